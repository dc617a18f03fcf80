# Start the Debian PostgreSQL cluster on 127.0.0.1 and export HITL_TRIAGE_TEST_PG_URL, for
# bench/review_load.py (the tests start their own throwaway cluster and need none of this, but use
# this server instead when the variable is set). Safe to source again when the server already runs.
pg_version=$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -n 1)
if [ -n "$pg_version" ]; then
  as_postgres() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi; }
  if [ "$(id -u)" -eq 0 ]; then pg_ctlcluster "$pg_version" main start 2>/dev/null || true
  else sudo pg_ctlcluster "$pg_version" main start 2>/dev/null || true; fi
  as_postgres psql -q -v ON_ERROR_STOP=0 -c "CREATE ROLE hitl LOGIN PASSWORD 'hitl' CREATEDB" 2>/dev/null || true
  as_postgres createdb -O hitl hitl_test 2>/dev/null || true
  export HITL_TRIAGE_TEST_PG_URL="postgresql+psycopg://hitl:hitl@127.0.0.1:5432/hitl_test"
else
  echo "PostgreSQL is not installed: PostgreSQL store tests will be skipped" >&2
fi
