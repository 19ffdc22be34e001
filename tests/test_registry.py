"""The one registry type: names in registration order, one registration per name, a wrong name gets a hint."""
import pytest

from taskneurons.errors import TaskNeuronsError
from taskneurons.registry import Registry, suggest


class Plugin:
    name = "grad_x_act"


def registry() -> Registry:
    r = Registry("task format")
    r.register(Plugin)
    r.register("reader", "olora")
    return r


def test_suggest_names_the_closest_choice_or_nothing():
    assert suggest("grad_x_ac", ["fisher", "grad_x_act"]) == " (did you mean 'grad_x_act'?)"
    assert suggest("zzz", ["fisher", "grad_x_act"]) == ""


def test_a_close_miss_gets_the_hint_and_every_name():
    with pytest.raises(TaskNeuronsError) as e:
        registry().get("olor")
    assert str(e.value) == "unknown task format 'olor' (did you mean 'olora'?); formats: grad_x_act, olora"


def test_register_works_as_a_decorator_and_with_a_name():
    r = registry()
    assert r.get("grad_x_act") is Plugin and r["olora"] == "reader"
    assert r.names() == list(r) == ["grad_x_act", "olora"] and len(r) == 2
    assert "olora" in r and "csv" not in r
    assert dict(r.items()) == {"grad_x_act": Plugin, "olora": "reader"} and list(r.values()) == [Plugin, "reader"]


def test_registering_a_name_twice_raises():
    r = registry()
    with pytest.raises(ValueError, match="task format 'olora' is registered twice"):
        r.register("other", "olora")
    assert r["olora"] == "reader"
