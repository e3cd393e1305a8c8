"""An upload's problems never show the server's temporary folder, even in a problem whose
text the library wrote whole (a YAML syntax error)."""

import pytest

from sharing.scenario import ScenarioError
from sharing.ui.upload import read_upload

BROKEN = b"scenario: 1\nname: broken\nyears: [2023, 2030\njurisdictions:\n  - id: a\n"


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_yaml_syntax_error_names_the_file_not_the_folder(lang):
    with pytest.raises(ScenarioError) as err:
        read_upload("broken.yaml", BROKEN, set())
    text = "\n".join(err.value.text(lang))
    assert "broken.yaml:4" in text
    assert "sharing-upload-" not in text and "/tmp" not in text
