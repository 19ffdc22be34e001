"""Tasks: Example and Task, one reader per file format, prompt templates, the demo suite, and load_task."""
from .base import Example, Task
from .registry import list_data_tasks, list_demo_tasks, load_task

__all__ = ["Example", "Task", "load_task", "list_demo_tasks", "list_data_tasks"]
