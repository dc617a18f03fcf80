"""Argilla (v2 SDK): the review queue as a dataset folder that ``rg.Dataset.from_disk`` loads,
and answers read back from the records' ``responses``.

Built with the SDK's own classes: ``rg.Settings`` with a ``TextField`` ``text``, a
``LabelQuestion`` ``label`` over the config's label names, and one ``TermsMetadataProperty``
per vote source (``vote_<source>``, the source's class; absent where it abstained) plus
``task``; one ``rg.Record`` per item (``id`` = item id) with
``suggestions=[rg.Suggestion("label", value, score=..., agent=<posterior>)]``.

The folder is what ``Dataset.to_disk`` writes: ``.argilla/settings.json``,
``.argilla/dataset.json`` and ``records.json`` (each record's ``Record.to_dict()``). Load it
with ``rg.Dataset.from_disk(FOLDER, client=client)``; after annotating, write it back with
``dataset.to_disk(FOLDER2)`` and import ``FOLDER2`` (or its ``records.json``).

An answer is a ``label`` response with a value; the reviewer is the response's ``user_id``.
Responses marked ``discarded`` or ``draft`` (when the file keeps a ``status``) give none.
``records.json`` keeps no response time: answers are stamped when imported.
"""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from hitl_triage.interop.queue import (
    LABEL,
    TEXT,
    Checker,
    ForeignAnswers,
    InteropError,
    ReviewQueue,
    now_utc,
    record_where,
)

if TYPE_CHECKING:
    import argilla as rg

__all__ = ["from_argilla", "metadata_name", "to_argilla"]
_NAME = re.compile(r"[^a-z0-9_-]")
NOT_ANSWERS = ("discarded", "draft")


def _sdk() -> Any:
    try:
        import argilla
    except ImportError:
        raise InteropError("the Argilla format needs the argilla SDK: pip install 'hitl-triage[interop]'") from None
    return argilla


def metadata_name(source: str) -> str:
    """The metadata property that holds ``source``'s vote: ``vote_`` + the name in Argilla's
    allowed characters (lower-case letters, digits, ``_``, ``-``)."""
    return "vote_" + _NAME.sub("_", source.lower())


def offline_client() -> Any:
    """The SDK's settings classes take their API objects from a client when built (and else
    connect to a default server). This gives them those objects over an HTTP client that is
    never used: nothing here creates anything on a server."""
    import httpx
    from argilla._api._client import ArgillaAPI

    return SimpleNamespace(api=ArgillaAPI(httpx.Client(base_url="http://argilla.invalid")))


def to_argilla(queue: ReviewQueue, *, label_names: list[str], task: str) -> tuple[rg.Settings, list[rg.Record]]:
    """The dataset settings and one record per queued item.

    Raises:
        InteropError: two sources whose names map to the same metadata property.
    """
    rg = _sdk()
    names: dict[str, str] = {}
    for source in queue.sources:
        name = metadata_name(source)
        if name in names.values():
            other = next(s for s, n in names.items() if n == name)
            raise InteropError(f"sources {other!r} and {source!r} both map to the Argilla metadata "
                               f"property {name!r}; rename one of them")
        names[source] = name
    client = offline_client()
    try:
        settings = rg.Settings(
            guidelines=f"hitl-triage review queue of the task {task!r}: choose the class of each text.",
            fields=[rg.TextField(name=TEXT, title="Text", client=client)],
            questions=[rg.LabelQuestion(name=LABEL, labels=list(label_names), title="Label", client=client)],
            metadata=[rg.TermsMetadataProperty(name="task", options=[task], client=client),
                      *[rg.TermsMetadataProperty(name=name, options=list(label_names), title=f"vote of {source}",
                                                 client=client) for source, name in names.items()]],
        )
    finally:
        client.api.http_client.close()
    records = []
    for i, item in enumerate(queue.ids):
        suggestions = []
        suggestion = queue.suggestion_of(i, label_names)
        if suggestion is not None:
            label, score, by = suggestion
            suggestions.append(rg.Suggestion(question_name=LABEL, value=label, score=score, agent=by, type="model"))
        metadata = {"task": task, **{names[s]: label for s, label in queue.votes_of(i, label_names).items()}}
        records.append(rg.Record(id=item, fields={TEXT: queue.texts[i] or ""}, metadata=metadata,
                                 suggestions=suggestions))
    return settings, records


def dataset_model(name: str) -> dict[str, Any]:
    """``.argilla/dataset.json``: the dataset model the SDK writes (no server id, no workspace;
    ``from_disk`` assigns them)."""
    from argilla._models import DatasetModel

    return DatasetModel(name=name).model_dump(mode="json")


def _responses(check: Checker, where: str, record: rg.Record, out: ForeignAnswers, item: str,
               stamp: str) -> None:
    answered = False
    for response in record.responses:
        if response.question_name != LABEL:
            continue
        status = getattr(response.status, "value", response.status)
        if status in NOT_ANSWERS or response.value is None:
            out.skip(status or "no value")
            answered = True
            continue
        label = check.label(where, f"responses.{LABEL}.value", response.value)
        out.rows.append({"id": item, "label": label, "answered_at": stamp,
                         "reviewer": check.reviewer(where, f"responses.{LABEL}.user_id", response.user_id, None)})
        answered = True
    if not answered:
        out.skip("not annotated")


def from_argilla(records: object, check: Checker) -> ForeignAnswers:
    """Answers from Argilla records (``records.json``: a list of ``Record.to_dict()``).

    Each record is read with ``rg.Record.from_dict``.

    Raises:
        InteropError: not a list, a record the SDK cannot read, an unknown item or class,
            another task's record; naming the file, the record (1-based) and the field.
    """
    rg = _sdk()
    if not isinstance(records, list):
        raise check.error("top level", "records", f"expected a JSON list of records (records.json), "
                          f"got {type(records).__name__}")
    out = ForeignAnswers()
    stamp = now_utc()
    for n, data in enumerate(records, start=1):
        if not isinstance(data, dict):
            raise check.error(record_where(n), "record", f"expected a JSON object, got {type(data).__name__}")
        where = record_where(n, data.get("id"))
        try:
            record = rg.Record.from_dict(data)
        except Exception as exc:  # the SDK raises ValueError, TypeError, pydantic's errors...
            bad = next((f for f in ("responses", "suggestions", "metadata", "fields")
                        if data.get(f) is not None and not isinstance(data.get(f), dict)), "record")
            raise check.error(where, bad, f"Argilla cannot read this record: {type(exc).__name__}: {exc}") from None
        item = check.item(where, "id", record.id)
        check.same_task(where, "metadata.task", record.metadata.get("task"))
        _responses(check, where, record, out, item, stamp)
    return out
