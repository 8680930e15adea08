import pytest

from gflow.core.names import missing_placeholders, render_template, run_name, sanitize, shell_join, substitute


@pytest.mark.parametrize(
    "text, expected",
    [
        ("train", "train"),
        ("my run/1 x", "my_run_1_x"),
        ("  spaced  ", "spaced"),
        ("a--b__c", "a--b__c"),
        ("a / : b", "a_b"),
        ("__x__", "x"),
        ("/x/", "x"),
        ("0.1", "0_1"),
        ("日本語 テスト", "日本語_テスト"),
        ("café-№1", "café-_1"),
        ("!!!", ""),
        ("", ""),
        ("a.b:c", "a_b_c"),
    ],
)
def test_sanitize(text, expected):
    assert sanitize(text) == expected


@pytest.mark.parametrize(
    "job_id, requested, taken, expected",
    [
        (5, "train", set(), "gjob-5-train"),
        (9, "my run/1 x", set(), "gjob-9-my_run_1_x"),
        (7, None, set(), "gjob-7"),
        (7, "", set(), "gjob-7"),
        (7, "///", set(), "gjob-7"),
        (5, "train", {"gjob-4-train"}, "gjob-5-train"),
        (5, "train", {"gjob-5-train"}, "gjob-5-train-5"),
        (5, "train", {"gjob-5-train", "gjob-5-train-5"}, "gjob-5-train-5-1"),
        (5, "train", {"gjob-5-train", "gjob-5-train-5", "gjob-5-train-5-1"}, "gjob-5-train-5-2"),
        (3, None, {"gjob-3"}, "gjob-3-1"),
        (3, None, {"gjob-3", "gjob-3-1"}, "gjob-3-1-1"),
        (3, None, {"gjob-3", "gjob-3-1", "gjob-3-1-1"}, "gjob-3-1-2"),
    ],
)
def test_run_name(job_id, requested, taken, expected):
    assert run_name(job_id, requested, taken) == expected


@pytest.mark.parametrize(
    "words, line",
    [
        (["python", "train.py", "--lr", "1"], "python train.py --lr 1"),
        (["a-b_c=d/e,f.g+h"], "a-b_c=d/e,f.g+h"),
        (["echo", "$HOME"], "echo '$HOME'"),
        (["a && b"], "'a && b'"),
        (["echo", ""], "echo ''"),
        (["echo", "it's"], "echo 'it'\\''s'"),
        (["--lr", "{lr}"], "--lr '{lr}'"),
        (["x@y", "a:b", "~"], "'x@y' 'a:b' '~'"),
        (["café"], "'café'"),
        ([], ""),
    ],
)
def test_shell_join(words, line):
    assert shell_join(words) == line


def test_shell_join_round_trips_through_shlex():
    import shlex

    words = ["bash", "-c", "echo 'hi' && echo \"$X\"", "", "a b", "{p}"]
    assert shlex.split(shell_join(words)) == words


@pytest.mark.parametrize(
    "template, values, expected",
    [
        ("lr{lr}", {"lr": "0.1"}, "lr0_1"),
        ("{model}-{lr}", {"model": "res net", "lr": "1e-3"}, "res_net-1e-3"),
        ("run-{missing}", {"lr": "1"}, "run-{missing}"),
        ("plain", {"lr": "1"}, "plain"),
        ("{a}{a}", {"a": "x/y"}, "x_yx_y"),
    ],
)
def test_render_template(template, values, expected):
    assert render_template(template, values) == expected


@pytest.mark.parametrize(
    "command, params, expected",
    [
        ("python train.py --lr '{lr}'", {"lr": "0.01"}, "python train.py --lr '0.01'"),
        ("{a} {b} {a}", {"a": "1", "b": "2"}, "1 2 1"),
        ("echo ${HOME} {x}", {"x": "1"}, "echo ${HOME} 1"),
        ("awk '{print}' {f}", {"f": "data"}, "awk '{print}' data"),
        ("echo {lr}", {}, "echo {lr}"),
        ("echo ${HOME}", {}, "echo ${HOME}"),
        ("echo { lr } {1x} {lr-x}", {"lr": "1"}, "echo { lr } {1x} {lr-x}"),
        ("echo {{lr}}", {"lr": "1"}, "echo {1}"),
        ("echo {lr}", {"lr": "a{b}"}, "echo a{b}"),
    ],
)
def test_substitute(command, params, expected):
    assert substitute(command, params) == expected


@pytest.mark.parametrize(
    "command, params, missing",
    [
        ("echo {a} {b} {c} {b}", {"a": "1"}, ["b", "c"]),
        ("echo {a}", {"a": "1"}, []),
        ("echo {a} {b}", {}, []),
        ("echo ${HOME} {a}", {"a": "1"}, []),
        ("awk '{print}' {a}", {"a": "1"}, ["print"]),
    ],
)
def test_missing_placeholders(command, params, missing):
    assert missing_placeholders(command, params) == missing
