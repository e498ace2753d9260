"""A secret in the environment never reaches a file, a log or an artifact of a forecast run.

The session city's store is copied (models and registry; no alert state, so every message is
new and queued) and run again with two channels whose URLs name ${SMTP_PASSWORD}: one webhook
that answers, one mail server that does not, so the secret is used to send and to fail.
"""

import shutil
import urllib.parse

from prefect.client.orchestration import get_client

from pipelines import flows
from pipelines.alerts.run import STORE_FILE
from pipelines.alerts.state import open_store
from tests.pipelines.test_alerts_delivery import Webhook, free_port

SECRET = "pl4nted-S3cret/&?"  # characters a URL must quote, so its quoted form is looked for too


def test_a_planted_secret_appears_in_no_output_log_or_artifact(run, city, tmp_path, monkeypatch, capfd, caplog):
    hook = Webhook(free_port())
    hook.start()
    try:
        shutil.copytree(run["store"], tmp_path / "store" / "port-test",
                        ignore=shutil.ignore_patterns(STORE_FILE, "alerts.atom", "forecasts"))
        channels = (f"  channels:\n"
                    f"    hook: {{url: 'json://warisan:${{SMTP_PASSWORD}}@127.0.0.1:{hook.port}/h', all_alerts: true}}\n"
                    f"    mail: {{url: 'mailto://alerts:${{SMTP_PASSWORD}}@127.0.0.1:{free_port()}"
                    f"?to=k@example.org&mode=insecure', all_alerts: true}}\n"
                    f"  delivery: {{attempts: 1, retry_delay_s: 0}}\n")
        text = city.read_text().replace("bundle: port/bundle", f"bundle: {city.parent / 'port' / 'bundle'}")
        text = text.replace("alerts: {sender: warisan-test@example.org, sender_name: Warisan test city, status: Test}",
                            "alerts:\n  sender: warisan-test@example.org\n  sender_name: Warisan test city\n"
                            "  status: Test\n" + channels)
        config = tmp_path / "port.yaml"
        config.write_text(text)
        monkeypatch.setenv("SMTP_PASSWORD", SECRET)
        flows.daily_forecast(config)
    finally:
        hook.stop()

    with open_store(tmp_path / "store" / "port-test" / STORE_FILE) as store:
        outbox = store.outbox()
    assert (outbox["channel"] == "hook").any() and (outbox["status"] == "sent").any()  # the secret was used
    assert outbox.query("channel == 'mail'")["last_error"].notna().all()  # and failed with
    forms = [SECRET, urllib.parse.quote(SECRET, safe=""), SECRET.encode().hex()]
    leaks = [path for path in tmp_path.rglob("*") if path.is_file()
             and any(form.encode() in path.read_bytes() for form in forms)]
    assert leaks == []
    logs = capfd.readouterr()
    assert not any(form in text for form in forms for text in (logs.out, logs.err, caplog.text))
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts()
    assert not any(form in str(artifact.data) + str(artifact.description) for form in forms
                   for artifact in artifacts)
