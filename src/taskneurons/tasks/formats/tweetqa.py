"""TweetQA's release format (``huangjingxian/TweetQA``): ``{train,dev,test}.json``, lists of
{"Question", "Answer": [str, ...], "Tweet", "qid"}.

Used as question generation, as in the paper's TweetQA row: the prompt gives the tweet and the first answer,
the target is the question.
"""
from __future__ import annotations

from pathlib import Path

from ..base import Example, Task
from ..templates import TWEETQA_TEMPLATE
from .common import bad_record, peek_json_record, read_records, split_files

EXPECTS = "train.json / dev.json / test.json (lists of {Question, Answer: [..], Tweet, qid})"


def detect(folder: Path) -> bool:
    files = split_files(folder, ".json")
    record = peek_json_record(next(iter(files.values()))) if files else None
    return record is not None and "Tweet" in record and "Question" in record


def example(path: Path, i: int, record: dict) -> Example:
    answers = record.get("Answer")
    if not isinstance(answers, list) or not answers or not isinstance(answers[0], str):
        raise bad_record(path, i, "field 'Answer' should be a non-empty list of strings")
    return Example(TWEETQA_TEMPLATE.format(tweet=record["Tweet"], answer=answers[0]), record["Question"])


def read(folder: Path, name: str) -> Task:
    splits, files = {}, split_files(folder, ".json")
    for split, path in files.items():
        records = read_records(path, ("Question", "Tweet"))
        splits[split] = [example(path, i, r) for i, r in enumerate(records)]
    return Task(name, "generation", splits, (), TWEETQA_TEMPLATE, str(folder), files=files)
