"""Task configs: one YAML file per task, validated by the pydantic models below.

A config fully describes a run (spaCy's habit): the label schema, where the data is, which
labeling functions vote, how the label model is fitted and where outputs go. Unknown keys are
errors. Relative paths are resolved against the folder that holds the config file.

Example (``configs/youtube_spam.yaml``)::

    task: youtube_spam
    labels:
      - {name: ham, description: A genuine comment about the video or the artist.}
      - {name: spam, description: Self-promotion, links, or requests to subscribe.}
    dataset:
      path: ../hitl_triage/examples/youtube_spam/youtube_spam.csv
      id_field: COMMENT_ID
      text_field: CONTENT
      gold_field: CLASS
    lfs:
      modules: [../labeling_functions/youtube_spam.py]
    run_dir: ../runs/youtube_spam
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from hitl_triage.distributed.settings import EngineConfig
from hitl_triage.errors import ConfigError
from hitl_triage.judge_settings import JudgeConfig
from hitl_triage.review_settings import ReviewConfig
from hitl_triage.round_settings import ConfidenceConfig, CurriculumConfig, TriageConfig

NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_\-]*$"
DATASET_FORMATS = ("auto", "csv", "jsonl", "parquet", "hf", "wrench")


def _resolve(value: Path | None, info: ValidationInfo) -> Path | None:
    """Resolve a relative path against the config file's folder (``context['base_dir']``)."""
    if value is None:
        return None
    base = (info.context or {}).get("base_dir")
    path = Path(value).expanduser()
    if not path.is_absolute() and base is not None:
        path = Path(base) / path
    return path.resolve() if base is not None else path


class StrictModel(BaseModel):
    """Base of every config section: unknown keys are errors, values are validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class LabelClass(StrictModel):
    """One class of the label schema. Reviewers and the judge read ``description``."""

    name: Annotated[str, Field(pattern=NAME_PATTERN, max_length=64)]
    description: Annotated[str, Field(min_length=1, max_length=500)]


class FieldSpec(StrictModel):
    """One column of an item shown to reviewers (``dataset.fields``)."""

    name: Annotated[str, Field(min_length=1, max_length=128)] = Field(
        description="Column of the dataset file (the text_field column included)."
    )
    display_name: Annotated[str, Field(min_length=1, max_length=128)] | None = Field(
        default=None, description="Heading shown above the field; default: the column name."
    )
    format: Literal["text", "markdown"] = Field(
        default="text",
        description="text: shown as typed; markdown: rendered with raw HTML shown as text and "
        "only http(s), mailto and relative links.",
    )

    @property
    def title(self) -> str:
        return self.display_name or self.name


class DatasetConfig(StrictModel):
    """Where the items are and which fields hold the id, the text, gold labels and votes."""

    path: Path
    format: Literal["auto", "csv", "jsonl", "parquet", "hf", "wrench"] = "auto"
    split: str | None = Field(
        default=None,
        description="WRENCH: which split file (train, valid, test; default train). "
        "HF: which split of a DatasetDict saved to disk.",
    )
    id_field: str | None = Field(
        default=None,
        description="Column holding a unique id. WRENCH uses its record keys. If null, ids are "
        "row numbers, stable only while the file is unchanged.",
    )
    text_field: str = "text"
    gold_field: str | None = Field(
        default=None,
        description="Column of true labels, used only to score runs and to simulate reviewers.",
    )
    vote_fields: list[str] = Field(
        default_factory=list,
        description="Columns of precomputed votes: an integer column is one source, a list "
        "column is one source per position. Values in {-1, 0, ..., k-1}.",
    )
    vote_names: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Optional source names for the positions of a list vote column.",
    )
    fields: list[FieldSpec] = Field(
        default_factory=list,
        description="Columns shown to reviewers, in order, each in its own block (and usable "
        "as {name} in the judge's template). Empty: the text_field column only.",
    )

    _resolve_path = field_validator("path")(_resolve)

    @model_validator(mode="after")
    def _vote_names_match_fields(self) -> DatasetConfig:
        unknown = sorted(set(self.vote_names) - set(self.vote_fields))
        if unknown:
            raise ValueError(
                f"vote_names has entries for {unknown}, which are not in vote_fields "
                f"{self.vote_fields}"
            )
        return self

    @model_validator(mode="after")
    def _fields_usable(self) -> DatasetConfig:
        names = [f.name for f in self.fields]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"fields: names must be unique; repeated: {dupes}")
        hidden = sorted(set(names) & {self.gold_field, *self.vote_fields} - {None})
        if hidden:
            raise ValueError(
                f"fields: {hidden} is the gold or a vote column, which reviewers must not see"
            )
        return self

    @property
    def shown_fields(self) -> list[FieldSpec]:
        """``fields``, or the text field alone when none are listed."""
        return list(self.fields) or [FieldSpec(name=self.text_field, display_name="Text")]

    @property
    def field_names(self) -> list[str]:
        """Names of the shown fields (what the judge's template and a correction may use)."""
        return [f.name for f in self.shown_fields]


class LFConfig(StrictModel):
    """Labeling function modules and how they are applied."""

    modules: list[Path] = Field(
        default_factory=list,
        description="Python files defining labeling functions (module-level LF objects).",
    )
    n_jobs: Annotated[int, Field(ge=1, le=256)] = 1
    spacy_pipeline: str = Field(
        default="blank:en",
        description="An installed spaCy pipeline name (e.g. en_core_web_sm) or blank:<lang>.",
    )
    spacy_batch_size: Annotated[int, Field(ge=1)] = 256
    timeout_s: Annotated[float, Field(gt=0, le=86_400)] | None = Field(
        default=None,
        description="Seconds a row LF may take on one item; past that the item gets an abstain "
        "and the timeout is recorded in lf_errors.jsonl. None: no limit.",
    )

    @field_validator("modules")
    @classmethod
    def _resolve_modules(cls, value: list[Path], info: ValidationInfo) -> list[Path]:
        return [p for p in (_resolve(v, info) for v in value) if p is not None]


class LabelModelConfig(StrictModel):
    """Which label model turns the votes into ``P(y | L)``, and its fitting parameters."""

    kind: Literal["snorkel", "majority", "dawid_skene", "auto"] = "snorkel"
    n_epochs: Annotated[int, Field(ge=1, le=100_000)] = 500
    lr: Annotated[float, Field(gt=0, le=10)] = 0.01
    l2: Annotated[float, Field(ge=0)] = 0.0
    # dawid_skene (hitl_triage.dawid_skene.DawidSkeneModel); ignored by the other kinds
    n_iter: Annotated[int, Field(ge=1, le=10_000)] = 100
    tol: Annotated[float, Field(ge=0)] = 1e-3
    smoothing: Annotated[float, Field(ge=0)] = 0.1
    max_fit_items: Annotated[int | None, Field(ge=1)] = None


class TaskConfig(StrictModel):
    """A whole task: the root of a config file."""

    task: Annotated[str, Field(pattern=NAME_PATTERN, max_length=64)]
    labels: Annotated[list[LabelClass], Field(min_length=2)]
    dataset: DatasetConfig
    lfs: LFConfig = Field(default_factory=LFConfig)
    label_model: LabelModelConfig = Field(default_factory=LabelModelConfig)
    confidence: ConfidenceConfig = Field(default_factory=ConfidenceConfig)
    triage: TriageConfig = Field(default_factory=TriageConfig)
    curriculum: CurriculumConfig = Field(default_factory=CurriculumConfig)
    judge: JudgeConfig | None = None
    review: ReviewConfig = Field(default_factory=ReviewConfig)
    engine: EngineConfig = Field(
        default_factory=EngineConfig,
        description="Where per-item work runs: local (default) or a Ray cluster (docs/scale.md).",
    )
    run_dir: Path | None = Field(
        default=None, description="Where outputs go; default runs/<task> beside the config."
    )
    seed: int = 0

    _resolve_run_dir = field_validator("run_dir")(_resolve)

    @field_validator("labels")
    @classmethod
    def _unique_label_names(cls, value: list[LabelClass]) -> list[LabelClass]:
        names = [c.name for c in value]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"label names must be unique; repeated: {dupes}")
        return value

    @model_validator(mode="after")
    def _default_run_dir(self, info: ValidationInfo) -> TaskConfig:
        if self.run_dir is None:
            base = Path((info.context or {}).get("base_dir", "."))
            object.__setattr__(self, "run_dir", (base / "runs" / self.task).resolve())
        return self

    @model_validator(mode="after")
    def _correction_field_shown(self) -> TaskConfig:
        correction = self.review.correction
        if correction is not None and correction.field not in self.dataset.field_names:
            raise ValueError(
                f"review.correction.field: {correction.field!r} is not one of the shown fields "
                f"{self.dataset.field_names} (dataset.fields, or dataset.text_field when none "
                "are listed)"
            )
        return self

    @property
    def label_names(self) -> list[str]:
        """Class names in index order: class ``i`` is ``label_names[i]``."""
        return [c.name for c in self.labels]

    @property
    def n_classes(self) -> int:
        return len(self.labels)

    @property
    def out_dir(self) -> Path:
        """The run directory (never None after validation)."""
        assert self.run_dir is not None  # set by _default_run_dir; not user input
        return self.run_dir


def _format_loc(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts) or "(top level)"


def _allowed_keys(loc: tuple[Any, ...]) -> list[str]:
    """Field names allowed at the parent of ``loc`` (for 'unknown key' messages)."""
    model: Any = TaskConfig
    for item in loc[:-1]:
        if isinstance(item, int) or not hasattr(model, "model_fields"):
            continue
        field = model.model_fields.get(item)
        if field is None:
            return []
        annotation = field.annotation
        for candidate in getattr(annotation, "__args__", (annotation,)):
            inner = getattr(candidate, "__args__", (candidate,))
            found = next((c for c in inner if hasattr(c, "model_fields")), None)
            if found is not None or hasattr(candidate, "model_fields"):
                model = found or candidate
                break
    return sorted(getattr(model, "model_fields", {}))


def format_validation_error(error: ValidationError, source: str) -> str:
    """Turn a pydantic error into lines that name the file, the field, expected and got."""
    lines = [f"{source}: invalid config ({error.error_count()} problem(s))"]
    for item in error.errors():
        loc = tuple(item["loc"])
        where = _format_loc(loc)
        if item["type"] == "extra_forbidden":
            allowed = _allowed_keys(loc)
            hint = f"; allowed keys here: {', '.join(allowed)}" if allowed else ""
            lines.append(f"  - {where}: unknown key{hint}")
            continue
        got = item.get("input")
        got_text = "" if isinstance(got, dict) else f" (got {got!r})"
        msg = re.sub(r"^Value error, ", "", item["msg"])
        lines.append(f"  - {where}: {msg}{got_text}")
    return "\n".join(lines)


def _declared_field_names(dataset: Any) -> list[str]:
    """Field names a raw ``dataset:`` mapping declares (for the judge template's placeholders,
    which are checked before the dataset section is a model); ``[]`` if it is malformed."""
    if not isinstance(dataset, dict):
        return []
    fields = dataset.get("fields") or []
    names = [f.get("name") for f in fields if isinstance(f, dict)] if isinstance(fields, list) else []
    if not names:
        names = [dataset.get("text_field", "text")]
    return [n for n in names if isinstance(n, str)]


def parse_config(data: Any, *, source: str = "<config>", base_dir: Path | None = None) -> TaskConfig:
    """Validate an already-parsed config mapping.

    Raises:
        ConfigError: naming ``source``, each field at fault, what was expected and what was got.
    """
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source}: expected a YAML mapping at the top level, got {type(data).__name__}"
        )
    context = {"base_dir": base_dir if base_dir is not None else Path.cwd(),
               "field_names": _declared_field_names(data.get("dataset"))}
    try:
        return TaskConfig.model_validate(data, context=context)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source)) from None


def load_config(path: str | Path) -> TaskConfig:
    """Read and validate a task config file.

    Relative paths inside the file are resolved against the file's folder.

    Raises:
        ConfigError: the file is missing, is not YAML, or fails validation.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    return parse_config(data, source=str(path), base_dir=path.resolve().parent)
