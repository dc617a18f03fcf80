"""Argilla round trip on a real run of the bundled YouTube task, with the real `argilla` SDK
(no Argilla server: the dataset folder is what `rg.Dataset.to_disk` writes and
`rg.Dataset.from_disk` loads; the reviewers' responses are added with the SDK's record
classes, as a server's export would hold them)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from hitl_triage.config import TaskConfig
from hitl_triage.interop.argilla import metadata_name, offline_client

from .support import asked_in_round_0, assert_round_loop_sees, cli, read_json, source_votes

rg = pytest.importorskip("argilla", reason="the argilla SDK is in the dev and interop extras")
from argilla._models import DatasetModel  # noqa: E402  (the model from_disk reads dataset.json with)


def test_export_answer_import_and_the_round_loop_sees_the_labels(
        routed: Callable[..., tuple[Path, TaskConfig]], gold: dict[str, str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    config_path, config = routed(blind_audit=False)  # every record shows its evidence
    out = tmp_path / "argilla_queue"
    cli("answers", "export", str(config_path), "--format", "argilla", "--out", str(out))
    settings = read_json(out / ".argilla" / "settings.json")
    assert read_json(out / ".argilla" / "dataset.json")["name"] == config.task
    (field,) = settings["fields"]
    assert (field["name"], field["settings"]["type"]) == ("text", "text")
    (question,) = settings["questions"]
    assert question["name"] == "label" and question["settings"]["type"] == "label_selection"
    assert [o["value"] for o in question["settings"]["options"]] == config.label_names
    metadata = {m["name"]: m["settings"] for m in settings["metadata"]}
    assert metadata["task"]["values"] == [config.task]
    votes = [name for name in metadata if name.startswith("vote_")]
    assert votes and all(metadata[name] == {"type": "terms", "values": config.label_names,
                                            "visible_for_annotators": True} for name in votes)

    # the SDK's own readers (what from_disk runs before it talks to a server) accept the folder;
    # they want a default client even to parse settings, and no Argilla server can run here, so
    # it is one whose HTTP client is never called
    monkeypatch.setattr(rg.Argilla, "_default_client", offline_client())
    parsed = rg.Settings.from_json(out / ".argilla" / "settings.json")
    assert parsed.questions["label"].labels == config.label_names and parsed.fields["text"].name == "text"
    assert sorted(m.name for m in parsed.metadata) == sorted(metadata)
    assert DatasetModel(**read_json(out / ".argilla" / "dataset.json")).name == config.task
    monkeypatch.undo()
    records = [rg.Record.from_dict(r) for r in read_json(out / "records.json")]
    asked = asked_in_round_0(config)
    assert sorted(r.id for r in records) == sorted(asked)
    expected = source_votes(config)
    for record in records:
        suggestion = record.suggestions["label"]
        assert suggestion.value in config.label_names and 0.0 <= suggestion.score <= 1.0
        assert suggestion.agent == "label_model"
        assert record.metadata == {"task": config.task, **{metadata_name(s): label
                                                           for s, label in expected[record.id].items()}}
    assert any(len(r.metadata) > 1 for r in records)

    # two annotators answer in Argilla; one discards a record (no label); the dataset is
    # written back with to_disk (records.json: Record.to_dict() of each record)
    ann, ben = uuid.uuid4(), uuid.uuid4()
    for record in records:
        record.responses.add(rg.Response("label", gold[record.id], user_id=ann, status="submitted"))
    records[0].responses.add(rg.Response("label", None, user_id=ben, status="discarded"))
    back = tmp_path / "argilla_answered"
    (back / ".argilla").mkdir(parents=True)
    (back / "records.json").write_text(json.dumps([r.to_dict() for r in records]))
    printed = cli("answers", "import", str(config_path), str(back), "--format", "argilla")
    assert f"read {len(records)} answers" in printed and "(no answer in: 1 no value)" in printed
    assert_round_loop_sees(config, {i: gold[i] for i in asked}, {str(ann)})
