"""The review store: items routed to experts, their assignments and answers (SQLAlchemy 2)."""
