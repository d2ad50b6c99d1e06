"""Settings: unusable optional values fall back to defaults and are reported by name, never by value."""

import pytest

from shared.settings import PSEUDONYM_KEY, AppSettings, SettingError, schedule


@pytest.mark.parametrize("raw", ["abc", "0.0", "-5", "100.5", "nan"])
def test_bad_sampling_percentage_falls_back_and_is_reported_without_its_value(raw: str) -> None:
    settings = AppSettings.from_environ({"TELEMETRY_SAMPLING_PERCENTAGE": raw})
    assert settings.sampling_percentage == 100.0
    assert list(settings.rejected) == ["TELEMETRY_SAMPLING_PERCENTAGE"]
    assert raw not in settings.rejected["TELEMETRY_SAMPLING_PERCENTAGE"]


def test_good_values_are_used() -> None:
    settings = AppSettings.from_environ({"TELEMETRY_SAMPLING_PERCENTAGE": "25", "TELEMETRY_STRICT": "true",
                                         "COSMOS_DATABASE": "  world  "})
    assert (settings.sampling_percentage, settings.telemetry_strict, settings.cosmos_database) == (25.0, True, "world")
    assert settings.rejected == {}


def test_missing_data_plane_setting_is_named() -> None:
    settings = AppSettings.from_environ({"AzureWebJobsStorage": "UseDevelopmentStorage=true",
                                         "COSMOS_KEY": "secret-key-value"})
    with pytest.raises(SettingError, match="^app setting COSMOS_ENDPOINT is missing or empty$"):
        settings.require_data_plane()


def test_missing_schedule_is_named() -> None:
    with pytest.raises(SettingError, match="INTEGRITY_SCHEDULE"):
        schedule("INTEGRITY_SCHEDULE", {})
    assert schedule("INTEGRITY_SCHEDULE", {"INTEGRITY_SCHEDULE": " 0 */5 * * * * "}) == "0 */5 * * * *"


@pytest.mark.parametrize(("environ", "reported"), [
    ({"TELEMETRY_PSEUDONYM_KEY": "short"}, True),  # too short to key a hash worth the name
    ({"WEBSITE_INSTANCE_ID": "abc123"}, True),  # in Azure without a key: the public development key is in use
    ({"WEBSITE_INSTANCE_ID": "abc123", "TELEMETRY_PSEUDONYM_KEY": "k" * 32}, False),
    ({}, False),  # locally, the development key is expected
])
def test_a_weak_or_missing_pseudonym_key_is_reported_without_its_value(environ: dict[str, str],
                                                                       reported: bool) -> None:
    settings = AppSettings.from_environ(environ)
    assert (PSEUDONYM_KEY in settings.rejected) is reported
    expected = environ.get(PSEUDONYM_KEY) if not reported and PSEUDONYM_KEY in environ else AppSettings.pseudonym_key
    assert settings.pseudonym_key == expected
    assert "short" not in settings.rejected.get(PSEUDONYM_KEY, "")
