import pytest

from gflow.core.directives import directive_tokens
from gflow.core.parse import ParseError


def test_header_directives_in_order():
    script = "#!/bin/bash\n# GFLOW --gpus=1\n# GFLOW --priority 50 -P proj\necho hi\n"
    assert directive_tokens(script) == ["--gpus=1", "--priority", "50", "-P", "proj"]


def test_directives_anywhere_in_the_file_count():
    script = "#!/bin/bash\necho start\n# GFLOW --time=1:30:00\necho end\n# GFLOW --memory=4G\n"
    assert directive_tokens(script) == ["--time=1:30:00", "--memory=4G"]


@pytest.mark.parametrize(
    "line",
    [
        "#GFLOW --gpus=1",
        " # GFLOW --gpus=1",
        "\t# GFLOW --gpus=1",
        "## GFLOW --gpus=1",
        "# gflow --gpus=1",
        "# GFLOWS --gpus=1",
        "echo '# GFLOW --gpus=1'",
    ],
)
def test_non_directive_lines_ignored(line):
    assert directive_tokens(f"#!/bin/bash\n{line}\n") == []


def test_quoted_values_keep_spaces():
    script = "# GFLOW --conda-env=\"my env\" --name 'a b'\n"
    assert directive_tokens(script) == ["--conda-env=my env", "--name", "a b"]


def test_trailing_comment_dropped():
    assert directive_tokens("# GFLOW --gpus=2  # two GPUs please\n") == ["--gpus=2"]


def test_bare_prefix_and_whitespace():
    assert directive_tokens("# GFLOW\n# GFLOW    \n# GFLOW\t--shared\n") == ["--shared"]


def test_crlf_and_no_trailing_newline():
    assert directive_tokens("# GFLOW --gpus=1\r\n# GFLOW --shared") == ["--gpus=1", "--shared"]


def test_empty_script():
    assert directive_tokens("") == []


def test_unbalanced_quote_is_an_error():
    with pytest.raises(ParseError) as info:
        directive_tokens("echo\n# GFLOW --name 'oops\n")
    assert str(info.value) == "Invalid directive on line 2: # GFLOW --name 'oops: No closing quotation"
