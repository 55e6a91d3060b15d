"""Issue #12 §3 and the JSON half of §1: hostile or careless input ends in one ``error:`` line
and exit 2, never a hang, a crash or a silently different object."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from auditor.cli import main
from tests.kits.mutate_kit import BANK, PACK, ROOT

BOMB_DATA = "\n".join([
    '  a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
    *[f"  {c}: &{c} [{','.join(['*' + p] * 9)}]" for p, c in zip("abcdefgh", "bcdefghi", strict=True)],
])
BOMB_MANIFEST = ("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: lol\n  annotations:\n"
                 "    x: y\nspec:\n  finalizers:\n" + BOMB_DATA.replace("  ", "    ", 1) + "\n")
BOMB_DOC = "schema: zone-auditor/zones/v1\nlaughs:\n" + BOMB_DATA + "\n"


def run(*args: str, input: str | None = None) -> object:
    return CliRunner().invoke(main, list(args), input=input)


def one_error(result: object, *words: str) -> None:
    assert result.exit_code == 2, result.output  # type: ignore[attr-defined]
    err = result.stderr  # type: ignore[attr-defined]
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
    for word in words:
        assert word in err, err


def test_alias_bomb_in_a_manifest_is_refused(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(BOMB_MANIFEST)
    one_error(run("reach", str(bomb)), "bomb.yaml", "aliases would expand", "refused")


def test_alias_bomb_on_stdin_is_refused() -> None:
    one_error(run("reach", "-", input=BOMB_MANIFEST), "<stdin>", "aliases would expand")


def test_alias_bomb_in_a_pack_zone_map_waivers_and_template_is_refused(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(BOMB_DOC)
    after = str(BANK / "after")
    one_error(run("audit", after, "--controls", str(bomb)), "bomb.yaml", "aliases would expand")
    one_error(run("audit", after, "--controls", PACK, "--zones", str(bomb)), "aliases would expand")
    one_error(run("audit", after, "--controls", PACK, "--waivers", str(bomb)), "aliases would expand")
    one_error(run("audit", after, "--controls", PACK, "--report", str(tmp_path / "r"),
                  "--template", str(bomb)), "aliases would expand")


def test_anchors_within_budget_still_load(tmp_path: Path) -> None:
    """Ordinary anchors (shared labels) are fine: only expansion far beyond the document is refused."""
    text = (BANK / "after" / "00-namespaces.yaml").read_text()
    text = text.replace("labels:", "labels: &shared", 1)
    (tmp_path / "ns.yaml").write_text(text)
    r = run("reach", str(tmp_path / "ns.yaml"), "--format", "csv")
    assert r.exit_code == 0, r.output


@pytest.mark.parametrize("option", ["--controls", "--zones", "--waivers"])
def test_deep_nesting_in_our_files_is_one_line(tmp_path: Path, option: str) -> None:
    deep = tmp_path / "deep.yaml"
    deep.write_text("schema: x\nzones: " + "[" * 3000 + "]" * 3000 + "\n")
    args = ["audit", str(BANK / "after"), "--controls", PACK, option, str(deep)]
    if option == "--controls":
        args = ["audit", str(BANK / "after"), "--controls", str(deep)]
    one_error(run(*args), "deep.yaml", "nested")
    medium = tmp_path / "medium.yaml"
    medium.write_text("schema: x\nzones: " + "[" * 200 + "]" * 200 + "\n")
    one_error(run(*[a if a != str(deep) else str(medium) for a in args]), "nested more than 64 levels")


def test_unquoted_impossible_waiver_date_names_file_and_line(tmp_path: Path) -> None:
    src = (ROOT / "controls" / "examples" / "bank-waivers.yaml").read_text()
    waivers = tmp_path / "waivers.yaml"
    waivers.write_text(src.replace("expires: 2027-06-30", "expires: 2027-02-30", 1))
    line = next(i for i, t in enumerate(waivers.read_text().splitlines(), 1) if "2027-02-30" in t)
    one_error(run("audit", str(BANK / "before"), "--controls", PACK, "--waivers", str(waivers)),
              f"waivers.yaml:{line}", "'2027-02-30' is not a valid date", "day is out of range")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs os.mkfifo (POSIX)")
def test_a_fifo_named_yaml_in_a_directory_is_an_error_not_a_hang(tmp_path: Path) -> None:
    target = tmp_path / "after"
    shutil.copytree(BANK / "after", target)
    os.mkfifo(target / "99-pipe.yaml")
    one_error(run("reach", str(target)), "99-pipe.yaml", "not a regular file (a FIFO)")


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_a_link_to_dev_zero_is_an_error_not_a_memory_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "after"
    shutil.copytree(BANK / "after", target)
    (target / "99-zero.yaml").symlink_to("/dev/zero")
    one_error(run("reach", str(target)), "99-zero.yaml", "character device")
    monkeypatch.setenv("AUDITOR_MAX_INPUT_BYTES", "1M")
    one_error(run("reach", "/dev/zero"), "/dev/zero", "larger than 1,048,576 bytes", "AUDITOR_MAX_INPUT_BYTES")


def test_input_size_limit_is_configurable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dump = str(BANK / "kubectl-dump.yaml")
    monkeypatch.setenv("AUDITOR_MAX_INPUT_BYTES", "4K")
    one_error(run("reach", dump), "kubectl-dump.yaml", "larger than 4,096")
    one_error(run("reach", "-", input=(BANK / "kubectl-dump.yaml").read_text()), "<stdin>", "larger than 4,096")
    monkeypatch.setenv("AUDITOR_MAX_INPUT_BYTES", "lots")
    one_error(run("reach", dump), "AUDITOR_MAX_INPUT_BYTES must be a positive number")
    monkeypatch.setenv("AUDITOR_MAX_INPUT_BYTES", "1M")
    assert run("reach", dump, "--format", "csv").exit_code == 0


def test_json_duplicate_keys_are_rejected_like_yaml(tmp_path: Path) -> None:
    policy = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
              "metadata": {"name": "default-deny", "namespace": "restricted"},
              "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}}
    text = json.dumps(policy, indent=1)
    # The second "spec" would silently win with a plain JSON reader: an allow-all policy.
    text = text.replace('"spec": {', '"spec": {"podSelector": {}, "ingress": [{}]},\n "spec": {', 1)
    target = tmp_path / "after"
    shutil.copytree(BANK / "after", target)
    (target / "50-netpol-default-deny.yaml").unlink()
    (target / "50-deny.json").write_text(text)
    line = next(i for i, t in enumerate(text.splitlines(), 1) if t.startswith(' "spec": {"podSelector"'))
    one_error(run("audit", str(target), "--controls", PACK), "50-deny.json:", "repeats the key 'spec'")
    r = run("audit", str(target), "--controls", PACK)
    assert f"50-deny.json:{line + 1}" in r.stderr  # type: ignore[attr-defined]
    one_error(run("reach", "-", input=text), "<stdin>:", "repeats the key 'spec'")


def test_escaped_colons_in_json_are_not_mistaken_for_duplicates(tmp_path: Path) -> None:
    ns = {"apiVersion": "v1", "kind": "Namespace",
          "metadata": {"name": "dmz", "annotations": {"note": "a:b\u003ac"}}}
    path = tmp_path / "ns.json"
    path.write_text(json.dumps(ns, ensure_ascii=True).replace(":c", "\\u003ac"))
    assert run("reach", str(path), "--format", "csv").exit_code == 0


def test_saved_snapshot_and_result_with_a_repeated_key_are_refused(tmp_path: Path) -> None:
    snap = tmp_path / "snap.json"
    assert run("scan", str(BANK / "after"), "-o", str(snap)).exit_code == 0
    text = snap.read_text()
    # The digest still matches (the last "source" wins), but a reader of the file sees another one.
    snap.write_text(text.replace('"source":', '"source":"manifests: elsewhere","source":', 1))
    one_error(run("reach", str(snap)), "snap.json", "repeats the key 'source'")
    result = tmp_path / "result.json"
    assert run("audit", str(BANK / "before"), "--controls", PACK, "-o", str(result)).exit_code == 1
    forged = result.read_text().replace('"summary":', '"summary":{"verdict":"pass"},"summary":', 1)
    result.write_text(forged)
    one_error(run("report", str(result), "-o", str(tmp_path / "out")), "result.json", "repeats the key 'summary'")
