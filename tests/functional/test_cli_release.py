"""``genbot release list|rollback|prune`` against moto's Lambda: functions, versions and ``live``
aliases laid out the way the stack deploys them (infra/functions.py), three deploys deep."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import boto3
import pytest

from genbot.cli import main
from genbot.resources import FUNCTION_TAG, LIVE_ALIAS, RELEASE_ENV

STACK = "GenbotStack"
FUNCTIONS = ("webhook", "generate", "notify")


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return None\n")
    return buffer.getvalue()


@pytest.fixture
def lam(aws: dict[str, str]) -> Any:
    iam = boto3.client("iam")
    role = iam.create_role(
        RoleName="genbot-fn",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )["Role"]["Arn"]
    client = boto3.client("lambda")
    for name in FUNCTIONS:
        client.create_function(
            FunctionName=f"{STACK}-{name}-X1",
            Runtime="python3.13",
            Role=role,
            Handler="handler.handler",
            Code={"ZipFile": _zip()},
            Tags={"aws:cloudformation:stack-name": STACK, FUNCTION_TAG: name},
        )
    # another stack's function, and one of ours without the genbot tag: both left alone
    client.create_function(
        FunctionName="OtherStack-webhook",
        Runtime="python3.13",
        Role=role,
        Handler="handler.handler",
        Code={"ZipFile": _zip()},
        Tags={"aws:cloudformation:stack-name": "OtherStack", FUNCTION_TAG: "webhook"},
    )
    return client


def deploy(client: Any, release: str, only: tuple[str, ...] = FUNCTIONS) -> None:
    """What `cdk deploy` of a new release does: a new version of each function, `live` on it."""
    for name in only:
        fn = f"{STACK}-{name}-X1"
        client.update_function_configuration(
            FunctionName=fn, Environment={"Variables": {RELEASE_ENV: release}}
        )
        version = client.publish_version(FunctionName=fn)["Version"]
        try:
            client.update_alias(FunctionName=fn, Name=LIVE_ALIAS, FunctionVersion=version)
        except client.exceptions.ResourceNotFoundException:
            client.create_alias(FunctionName=fn, Name=LIVE_ALIAS, FunctionVersion=version)


def live(client: Any) -> dict[str, tuple[str, str]]:
    """Function -> (the live version, its release)."""
    out = {}
    for name in FUNCTIONS:
        fn = f"{STACK}-{name}-X1"
        version = client.get_alias(FunctionName=fn, Name=LIVE_ALIAS)["FunctionVersion"]
        config = client.get_function_configuration(FunctionName=fn, Qualifier=version)
        out[name] = (version, config["Environment"]["Variables"][RELEASE_ENV])
    return out


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["release", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_rollback_moves_every_live_alias_to_the_previous_release_and_back(
    lam: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    for release in ("aaa111", "bbb222", "ccc333"):
        deploy(lam, release)
    assert {r for _, r in live(lam).values()} == {"ccc333"}

    code, out, err = run(capsys, "list")
    assert code == 0, err
    assert "releases kept (oldest first): aaa111, bbb222, ccc333" in out
    assert "OtherStack" not in out

    code, out, err = run(capsys, "rollback", "--yes")
    assert code == 0, err
    assert "webhook: live 3 (ccc333) -> 2 (bbb222)" in out
    assert live(lam) == {name: ("2", "bbb222") for name in FUNCTIONS}
    # the other stack's function was not touched
    assert not lam.list_aliases(FunctionName="OtherStack-webhook")["Aliases"]

    # forward again to a named release
    code, out, _ = run(capsys, "rollback", "--to", "ccc333", "--yes")
    assert code == 0 and live(lam) == {name: ("3", "ccc333") for name in FUNCTIONS}


def test_a_release_missing_a_function_moves_nothing(lam: Any, capsys: pytest.CaptureFixture[str]) -> None:
    deploy(lam, "aaa111", only=("webhook", "generate"))  # notify came later
    deploy(lam, "bbb222")

    code, _, err = run(capsys, "rollback", "--yes")

    assert code == 2 and "release aaa111 has no version of notify" in err
    assert {r for _, r in live(lam).values()} == {"bbb222"}  # all or nothing


def test_disagreeing_aliases_are_named_and_a_target_is_asked_for(
    lam: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    deploy(lam, "aaa111")
    deploy(lam, "bbb222")
    lam.update_alias(FunctionName=f"{STACK}-notify-X1", Name=LIVE_ALIAS, FunctionVersion="1")

    code, _, err = run(capsys, "rollback", "--yes")
    assert code == 2 and "notify: aaa111" in err and "webhook: bbb222" in err and "--to" in err

    code, _, _ = run(capsys, "rollback", "--to", "aaa111", "--yes")
    assert code == 0 and {r for _, r in live(lam).values()} == {"aaa111"}


def test_the_first_release_has_nothing_before_it(lam: Any, capsys: pytest.CaptureFixture[str]) -> None:
    deploy(lam, "aaa111")
    code, _, err = run(capsys, "rollback", "--yes")
    assert code == 2 and "no release before aaa111" in err


def test_a_rollback_not_confirmed_changes_nothing(
    lam: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    deploy(lam, "aaa111")
    deploy(lam, "bbb222")
    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))

    code, out, _ = run(capsys, "rollback")

    assert code == 1 and "nothing changed" in out
    assert {r for _, r in live(lam).values()} == {"bbb222"}


def test_prune_keeps_the_newest_releases_and_whatever_live_runs(
    lam: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    for release in ("aaa111", "bbb222", "ccc333", "ddd444"):
        deploy(lam, release)
    lam.update_alias(FunctionName=f"{STACK}-notify-X1", Name=LIVE_ALIAS, FunctionVersion="1")  # by hand

    code, out, err = run(capsys, "prune", "--keep", "2", "--yes")

    assert code == 0, err
    assert "deleted 5 version(s)" in out  # aaa111 and bbb222 of each, but notify's live 1
    for name in FUNCTIONS:
        versions = {
            v["Version"] for v in lam.list_versions_by_function(FunctionName=f"{STACK}-{name}-X1")["Versions"]
        }
        kept = {"$LATEST", "3", "4"} | ({"1"} if name == "notify" else set())
        assert versions == kept, name
    code, out, _ = run(capsys, "prune", "--yes")
    assert code == 0 and "nothing to delete" in out


def test_a_stack_without_genbot_functions_is_said_plainly(
    lam: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "list", "--stack", "NoSuchStack")
    assert code == 2 and "no genbot functions tagged with stack 'NoSuchStack'" in err
