"""`xling data fetch` against a loopback HTTP server serving a copy of a few data-root files.

The server binds 127.0.0.1 only, serves a folder under tmp_path, and is shut down by the fixture.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import re
import shutil
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from eval_xtreme import fetch as F

# Data-root files the tests serve: LASER Tatoeba kk (plain), XQuAD de and UD Kazakh test (xz).
MIRRORED = ["tatoeba/tatoeba.kaz-eng.kaz", "tatoeba/tatoeba.kaz-eng.eng", "xquad/xquad.de.json.xz",
            "udpos/UD_Kazakh-KTB/kk_ktb-ud-test.conllu.xz"]


class LoopbackServer:
    def __init__(self, root: Path, honour_range: bool = True, cut_first_response: bool = False) -> None:
        self.root = root
        self.honour_range = honour_range
        self.cut_first_response = cut_first_response  # send half the body, then drop the connection
        self.requests: list[tuple[str, str | None, int]] = []  # (path, Range header, status)
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                rel = self.path.lstrip("/").split("?", 1)[0]
                from urllib.parse import unquote

                target = (server.root / unquote(rel)).resolve()
                rng = self.headers.get("Range")
                if server.root.resolve() not in target.parents or not target.is_file():
                    server.requests.append((rel, rng, 404))
                    self.send_error(404)
                    return
                data = target.read_bytes()
                start = 0
                if rng and server.honour_range and rng.startswith("bytes=") and rng.endswith("-"):
                    start = int(rng[len("bytes="):-1])
                    if start >= len(data):
                        server.requests.append((rel, rng, 416))
                        self.send_error(416)
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                    server.requests.append((rel, rng, 206))
                else:
                    self.send_response(200)
                    server.requests.append((rel, rng, 200))
                self.send_header("Content-Length", str(len(data) - start))
                self.end_headers()
                if server.cut_first_response:
                    server.cut_first_response = False
                    self.wfile.write(data[start:start + (len(data) - start) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(data[start:])

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def mirror_dir(tmp_path: Path, data_root: Path) -> Path:
    mirror = tmp_path / "mirror"
    for rel in MIRRORED:
        (mirror / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(data_root / rel, mirror / rel)
    return mirror


@pytest.fixture
def server(mirror_dir: Path) -> Iterator[LoopbackServer]:
    srv = LoopbackServer(mirror_dir)
    yield srv
    srv.stop()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def source_for(path: str, data: bytes, **kw: object) -> F.Source:
    return F.Source(name=Path(path).name, tasks=("test",), url=f"https://example.invalid/{path}", path=path,
                    size=len(data), sha256=sha(data), **kw)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# The manifest


def test_manifest_is_well_formed_and_names_registry_tasks() -> None:
    from eval_xtreme.tasks import TASKS

    m = F.load_manifest()
    assert len(m.sources) > 100
    for s in m.sources:
        assert s.url.startswith("https://"), s.name
        assert s.size > 0
        for t in s.tasks:
            assert t in TASKS, (s.name, t)
    for t in m.manual:
        assert t in TASKS
    nine = {"xnli", "pawsx", "udpos", "xquad", "mlqa", "tydiqa", "bucc2018", "tatoeba"}
    assert nine <= {t for s in m.sources for t in s.tasks}  # panx: manual download only
    assert "panx" in m.manual


def test_manifest_checksums_match_the_data_root(data_root: Path) -> None:
    """Every single-file source the data root holds has exactly the manifest's bytes."""
    m = F.load_manifest()
    checked = 0
    for s in m.sources:
        if s.extract:
            continue
        for suffix in ("", ".xz", ".gz"):
            p = data_root / (s.path + suffix)
            if p.is_file():
                assert F.sha256_of(p, suffix) == s.sha256, s.path
                checked += 1
                break
    assert checked >= 95


def test_select_sources_by_task_and_language() -> None:
    m = F.load_manifest()
    names = {s.name for s in F.select_sources(m, ["tatoeba_turkic:kk+ug"])}
    assert names == {"tatoeba-kaz-kaz", "tatoeba-kaz-eng", "tatoeba-uig-uig", "tatoeba-uig-eng"}
    with pytest.raises(ValueError, match="AmazonPhotos"):
        F.select_sources(m, ["panx"])
    with pytest.raises(ValueError, match="Did you mean tatoeba"):
        F.select_sources(m, ["tatoeb"])


# ---------------------------------------------------------------------------------------------
# Downloads


def test_fetch_from_loopback_mirror_then_rerun_skips(server: LoopbackServer, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    m = F.load_manifest()
    # xquad:de would also bring SQuAD train/dev (its English training data), not on this mirror.
    chosen = F.select_sources(m, ["tatoeba_turkic:kk"]) + [s for s in m.sources if s.name == "xquad-de"]
    rep = F.fetch(dest=dest, mirror=server.url, sources=chosen)
    assert rep.ok, rep.failed
    assert set(rep.downloaded) == {"tatoeba-kaz-kaz", "tatoeba-kaz-eng", "xquad-de"}
    assert (dest / "tatoeba/tatoeba.kaz-eng.kaz").is_file()
    assert (dest / "xquad/xquad.de.json.xz").is_file()  # the mirror's compressed copy, kept compressed
    assert not list(dest.rglob("*.part"))
    # The task registry reads the fetched tree as a data root.
    from eval_xtreme.loaders import load_split
    from eval_xtreme.tasks import get_task

    rs, _ = load_split(get_task("tatoeba_turkic"), "test", "kk", root=dest)
    assert len(rs.source) == 575
    n = len(server.requests)
    rep2 = F.fetch(dest=dest, mirror=server.url, sources=chosen)
    assert rep2.downloaded == [] and set(rep2.present) == {"tatoeba-kaz-kaz", "tatoeba-kaz-eng", "xquad-de"}
    assert len(server.requests) == n  # nothing requested again


def test_fetch_reports_sources_missing_on_the_mirror(server: LoopbackServer, tmp_path: Path) -> None:
    rep = F.fetch(["udpos_turkic:kk"], tmp_path / "dest", mirror=server.url)
    # KTB test is mirrored, KTB train is not: one success, one clear failure.
    assert rep.downloaded == ["UD_Kazakh-KTB-test"]
    assert [name for name, _ in rep.failed] == ["UD_Kazakh-KTB-train"]
    assert "not found at" in rep.failed[0][1] and "kk_ktb-ud-train.conllu" in rep.failed[0][1]


def test_resume_sends_range_and_appends(server: LoopbackServer, mirror_dir: Path, tmp_path: Path) -> None:
    rel = "tatoeba/tatoeba.kaz-eng.kaz"
    data = (mirror_dir / rel).read_bytes()
    dest = tmp_path / "dest"
    part = dest / (rel + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(data[:1000])  # a download killed after 1000 bytes
    rep = F.fetch(["tatoeba_turkic:kk"], dest, mirror=server.url)
    assert rep.ok, rep.failed
    assert (rel, "bytes=1000-", 206) in server.requests
    assert (dest / rel).read_bytes() == data


def test_connection_dropped_mid_file_resumes(mirror_dir: Path, tmp_path: Path) -> None:
    srv = LoopbackServer(mirror_dir, cut_first_response=True)
    try:
        rel = "tatoeba/tatoeba.kaz-eng.kaz"
        data = (mirror_dir / rel).read_bytes()
        kaz = [s for s in F.load_manifest().sources if s.name == "tatoeba-kaz-kaz"]
        rep = F.fetch(dest=tmp_path / "dest", mirror=srv.url, sources=kaz, retries=2)
        assert rep.ok, rep.failed
        assert srv.requests[0] == (rel, None, 200)
        assert srv.requests[1] == (rel, f"bytes={len(data) // 2}-", 206)
        assert (tmp_path / "dest" / rel).read_bytes() == data
    finally:
        srv.stop()


def test_server_without_range_support_restarts_cleanly(mirror_dir: Path, tmp_path: Path) -> None:
    srv = LoopbackServer(mirror_dir, honour_range=False)
    try:
        rel = "tatoeba/tatoeba.kaz-eng.kaz"
        data = (mirror_dir / rel).read_bytes()
        part = tmp_path / "dest" / (rel + ".part")
        part.parent.mkdir(parents=True)
        part.write_bytes(b"garbage that is not a prefix")
        rep = F.fetch(["tatoeba_turkic:kk"], tmp_path / "dest", mirror=srv.url)
        assert rep.ok, rep.failed
        assert (rel, "bytes=28-", 200) in srv.requests
        assert (tmp_path / "dest" / rel).read_bytes() == data
    finally:
        srv.stop()


def test_checksum_mismatch_is_refused(server: LoopbackServer, mirror_dir: Path, tmp_path: Path) -> None:
    rel = "tatoeba/tatoeba.kaz-eng.eng"
    corrupted = bytearray((mirror_dir / rel).read_bytes())
    corrupted[10] ^= 1
    (mirror_dir / rel).write_bytes(bytes(corrupted))
    dest = tmp_path / "dest"
    rep = F.fetch(["tatoeba_turkic:kk"], dest, mirror=server.url)
    assert [name for name, _ in rep.failed] == ["tatoeba-kaz-eng"]
    assert "checksum mismatch" in rep.failed[0][1] and "expected sha256 0ab684e7" in rep.failed[0][1]
    assert not (dest / rel).exists() and not (dest / (rel + ".part")).exists()
    assert (dest / "tatoeba/tatoeba.kaz-eng.kaz").is_file()  # the good file still arrives


def test_directory_mirror(mirror_dir: Path, tmp_path: Path) -> None:
    xquad_de = next(s for s in F.load_manifest().sources if s.name == "xquad-de")
    rep = F.fetch(dest=tmp_path / "dest", mirror=str(mirror_dir), sources=[xquad_de])
    assert rep.ok and rep.downloaded == ["xquad-de"]
    assert F.sha256_of(tmp_path / "dest/xquad/xquad.de.json.xz", ".xz") == xquad_de.sha256


def test_data_root_counts_as_complete_for_its_sources(data_root: Path) -> None:
    # Read-only check (never fetch *into* the shared data root): compressed copies count as present.
    chosen = F.select_sources(F.load_manifest(), ["tatoeba_turkic", "xwmt_en_kk", "flores_en_ug", "kazqad"])
    assert len(chosen) == 14  # kazqad: its validation set and XQuAD-en (the English training stand-in)
    assert all(F._existing_copy(data_root, s) is not None for s in chosen)


# ---------------------------------------------------------------------------------------------
# Archives


def make_tar(members: list[tuple[tarfile.TarInfo, bytes | None]], mode: str = "w:gz") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tf:
        for info, data in members:
            if data is not None:
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
            else:
                tf.addfile(info)
    return buf.getvalue()


def tar_member(name: str, kind: bytes = tarfile.REGTYPE, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    info.mode = 0o644
    return info


def test_archive_extraction_with_strip_and_marker(server: LoopbackServer, mirror_dir: Path, tmp_path: Path) -> None:
    conllu = b"# sent_id = 1\n1\tAlma\talma\tNOUN\t_\t_\t0\troot\t_\t_\n\n"
    archive = make_tar([(tar_member("ud-x/UD_Foo-Bar/foo-ud-test.conllu"), conllu),
                        (tar_member("ud-x/UD_Foo-Bar/link", tarfile.SYMTYPE, "foo-ud-test.conllu"), None)])
    (mirror_dir / "udpos").mkdir(exist_ok=True)
    (mirror_dir / "udpos/ud-x.tgz").write_bytes(archive)
    src = source_for("udpos/ud-x.tgz", archive, extract={"to": "udpos", "strip": 1})
    dest = tmp_path / "dest"
    # A treebank folder that already holds other files: the archive merges into it.
    (dest / "udpos/UD_Foo-Bar").mkdir(parents=True)
    (dest / "udpos/UD_Foo-Bar/foo-ud-train.conllu").write_text("kept\n")
    (dest / "udpos/UD_Foo-Bar/foo-ud-test.conllu").write_text("old version\n")
    rep = F.fetch(dest=dest, mirror=server.url, sources=[src])
    assert rep.ok, rep.failed
    assert rep.extracted == [src.name]
    assert (dest / "udpos/UD_Foo-Bar/foo-ud-test.conllu").read_bytes() == conllu
    assert (dest / "udpos/UD_Foo-Bar/foo-ud-train.conllu").read_text() == "kept\n"
    assert (dest / "udpos/UD_Foo-Bar/link").resolve() == (dest / "udpos/UD_Foo-Bar/foo-ud-test.conllu").resolve()
    assert not list((dest / "udpos").glob(".tmp-extract-*"))
    rep2 = F.fetch(dest=dest, mirror=server.url, sources=[src])
    assert rep2.present == [src.name] and rep2.extracted == []


def zip_bytes(entries: list[tuple[str, bytes, int | None]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data, mode in entries:
            info = zipfile.ZipInfo(name)
            if mode is not None:
                info.external_attr = mode << 16
            zf.writestr(info, data)
    return buf.getvalue()


EVIL = {
    "zip_dotdot": ("x.zip", lambda: zip_bytes([("ok.txt", b"ok", None), ("../evil.txt", b"x", None)])),
    "zip_absolute": ("x.zip", lambda: zip_bytes([("/tmp/evil-xling.txt", b"x", None)])),
    "zip_symlink_out": ("x.zip", lambda: zip_bytes([("link", b"../../outside", 0o120777)])),
    "tar_dotdot": ("x.tgz", lambda: make_tar([(tar_member("a/../../evil.txt"), b"x")])),
    "tar_absolute": ("x.tgz", lambda: make_tar([(tar_member("/tmp/evil-xling.txt"), b"x")])),
    "tar_symlink_out": ("x.tgz", lambda: make_tar([(tar_member("a/link", tarfile.SYMTYPE, "../../../etc"), None)])),
    "tar_symlink_abs": ("x.tgz", lambda: make_tar([(tar_member("link", tarfile.SYMTYPE, "/etc/passwd"), None)])),
    "tar_hardlink_out": ("x.tgz", lambda: make_tar([(tar_member("h", tarfile.LNKTYPE, "../outside"), None)])),
    "tar_fifo": ("x.tgz", lambda: make_tar([(tar_member("fifo", tarfile.FIFOTYPE), None)])),
}


@pytest.mark.parametrize("case", sorted(EVIL))
def test_extraction_refuses_paths_escaping_the_destination(case: str, tmp_path: Path) -> None:
    name, build = EVIL[case]
    archive = tmp_path / name
    archive.write_bytes(build())
    dest = tmp_path / "area" / "dest"
    with pytest.raises(ValueError, match="refusing to extract"):
        F.safe_extract(archive, dest)
    assert list(dest.iterdir()) == []  # nothing written, temporary folder removed
    assert not (tmp_path / "area" / "evil.txt").exists() and not (tmp_path / "evil.txt").exists()
    assert not Path("/tmp/evil-xling.txt").exists()


def test_refused_archive_is_reported_not_raised(server: LoopbackServer, mirror_dir: Path, tmp_path: Path) -> None:
    data = EVIL["tar_dotdot"][1]()
    (mirror_dir / "bad.tgz").write_bytes(data)
    src = source_for("bad.tgz", data, extract={"to": "", "strip": 0})
    rep = F.fetch(dest=tmp_path / "dest", mirror=server.url, sources=[src])
    assert rep.failed and "outside" in rep.failed[0][1]
    assert not (tmp_path / "dest" / "bad.tgz.extracted").exists()


# ---------------------------------------------------------------------------------------------
# CLI


def test_cli_fetch_and_list(server: LoopbackServer, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    parser = argparse.ArgumentParser(prog="xling")
    F.register(parser.add_subparsers(dest="command", required=True))
    dest = tmp_path / "dest"
    args = parser.parse_args(["data", "fetch", "tatoeba_turkic:kk", "--mirror", server.url, "--dest", str(dest),
                              "--quiet"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert f"into {dest}" in out and "2 downloaded" in out
    args = parser.parse_args(["data", "fetch", "--dest", str(dest), "--list"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "tatoeba/tatoeba.kaz-eng.kaz" in out and "yes" in out and "manual: panx" in out
    args = parser.parse_args(["data", "fetch", "udpos_turkic:kk", "--mirror", server.url, "--dest", str(dest),
                              "--quiet"])
    assert args.func(args) == 1
    assert "FAILED UD_Kazakh-KTB-train" in capsys.readouterr().out


# ---------------------------------------------------------------------------------------------
# Pretraining inputs (`--pretrain LIST`, pretrain_manifest.json)


def _recipe_data_paths(recipe: Path, repo: Path) -> set[str]:
    """Every `$XLING_DATA/...` path a recipe names, following `include:` files (read as plain text
    and YAML here, independently of xling's config loader)."""
    import yaml

    found: set[str] = set()

    def walk(obj: object) -> None:
        if isinstance(obj, dict):
            for k, v in obj.items():
                if k == "include":
                    for inc in v:
                        walk(yaml.safe_load((repo / inc).read_text(encoding="utf-8")))
                else:
                    walk(v)
        elif isinstance(obj, list):
            for v in obj:
                walk(v)
        elif isinstance(obj, str) and "$XLING_DATA/" in obj:
            found.add(re.sub(r"#[0-9]+$", "", obj.split("$XLING_DATA/", 1)[1]))  # `file.tsv#N`: column N

    walk(yaml.safe_load(recipe.read_text(encoding="utf-8")))
    return found


REPO = Path(__file__).resolve().parents[2]


def test_pretrain_lists_cover_every_data_root_input_of_their_recipe() -> None:
    pm = F.load_manifest(F.PRETRAIN_MANIFEST_PATH)
    assert {"demo", "cpu-long"} <= set(pm.lists)
    for name, meta in pm.lists.items():
        wanted = _recipe_data_paths(REPO / meta["recipe"], REPO)
        assert wanted, name
        listed = {s.path for s in pm.sources if name in s.tasks}
        missing = wanted - listed
        # What a list cannot fetch must be said in `manual`, naming the file.
        assert all(name in pm.manual and m in pm.manual[name] for m in missing), \
            (name, missing, "rebuild eval_xtreme/pretrain_manifest.json with scripts/pretrain_manifest.py")
        assert listed <= wanted, (name, listed - wanted)
        # The eval tasks it fetches with --with-eval are the recipe's own.
        import yaml

        raw = yaml.safe_load((REPO / meta["recipe"]).read_text(encoding="utf-8"))
        assert meta["eval_tasks"] == ((raw.get("eval") or {}).get("tasks") or []), name
    demo = {s.path for s in pm.sources if "demo" in s.tasks}
    assert "mono/ug/common_voice/sentence-collector.txt.xz" in demo and "manual" not in pm.lists["demo"]
    assert "demo" not in pm.manual  # the demo's pretraining inputs are all fetchable


def test_pretrain_manifest_checksums_match_the_data_root(data_root: Path) -> None:
    """sha256/size are of the upstream bytes; the data root keeps a text file xz-compressed at `path`
    (`store`), an XML file as published."""
    import lzma

    pm = F.load_manifest(F.PRETRAIN_MANIFEST_PATH)
    assert len(pm.sources) >= 50
    for s in pm.sources:
        assert s.url.startswith("https://raw.githubusercontent.com/") and s.license, s.name
        assert s.store == (".xz" if s.path.endswith(".xz") else ""), s.name
        if s.store:
            with lzma.open(data_root / s.path, "rb") as f:
                data = f.read()
        else:
            data = (data_root / s.path).read_bytes()
        assert (len(data), sha(data)) == (s.size, s.sha256), s.path
    # The data root counts as complete for every list.
    assert all(F._existing_copy(data_root, s) is not None for s in pm.sources)


@pytest.fixture
def pretrain_mirror(tmp_path: Path, data_root: Path) -> tuple[Path, list[F.Source]]:
    """A data-root mirror (compressed files at their paths) of the `pretrain-debug` list."""
    chosen, _, _ = F.select_pretrain(["pretrain-debug"])
    mirror = tmp_path / "pmirror"
    for s in chosen:
        (mirror / s.path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(data_root / s.path, mirror / s.path)
    return mirror, chosen


def test_pretrain_fetch_from_loopback_mirror(pretrain_mirror: tuple[Path, list[F.Source]], data_root: Path,
                                             tmp_path: Path) -> None:
    import lzma

    mirror, chosen = pretrain_mirror
    assert {s.path for s in chosen} == {"mono/kk/common_voice/sentence-collector.txt.xz",
                                        "mono/ug/common_voice/sentence-collector.txt.xz",
                                        *(f"lid/lingua_testdata/sentences/{ll}.txt.xz" for ll in ("kk", "ru", "en"))}
    srv = LoopbackServer(mirror)
    try:
        dest = tmp_path / "dest"
        rep = F.fetch(dest=dest, mirror=srv.url, sources=chosen)
        assert rep.ok and len(rep.downloaded) == 5, rep.failed
        for s in chosen:  # kept compressed at the recipe's path, with the upstream text inside
            with lzma.open(dest / s.path) as a, lzma.open(data_root / s.path) as b:
                assert a.read() == b.read()
        n = len(srv.requests)
        again = F.fetch(dest=dest, mirror=srv.url, sources=chosen)
        assert again.ok and len(again.present) == 5 and len(srv.requests) == n
    finally:
        srv.stop()


def test_pretrain_fetch_from_canonical_plain_file_is_compressed_after_the_check(data_root: Path,
                                                                                tmp_path: Path) -> None:
    """A canonical URL serves the upstream (plain) bytes: checked, then stored xz-compressed."""
    import dataclasses
    import lzma

    pm = F.load_manifest(F.PRETRAIN_MANIFEST_PATH)
    src = next(s for s in pm.sources if s.path.endswith("apertium_kaz_rus_CORPUS/udp+kaz.xz"))
    upstream = tmp_path / "upstream"
    upstream.mkdir()
    with lzma.open(data_root / src.path) as f:
        (upstream / "udp+kaz.").write_bytes(f.read())
    srv = LoopbackServer(upstream)
    try:
        local = dataclasses.replace(src, url=srv.url + "/udp%2Bkaz.")
        dest = tmp_path / "dest"
        rep = F.fetch(dest=dest, sources=[local])
        assert rep.ok and rep.bytes_downloaded == src.size, rep.failed
        stored = dest / src.path
        assert stored.name == "udp+kaz.xz" and not stored.with_name(stored.name + ".part").exists()
        with lzma.open(stored) as f:
            assert hashlib.sha256(f.read()).hexdigest() == src.sha256
        # A wrong checksum leaves nothing under the recipe's path.
        bad = dataclasses.replace(local, sha256="0" * 64, path="x/bad.xz")
        rep = F.fetch(dest=dest, sources=[bad])
        assert not rep.ok and "checksum mismatch" in rep.failed[0][1]
        assert not (dest / "x/bad.xz").exists()
    finally:
        srv.stop()


def test_cli_pretrain_list_and_with_eval(pretrain_mirror: tuple[Path, list[F.Source]], tmp_path: Path,
                                         capsys: pytest.CaptureFixture) -> None:
    parser = argparse.ArgumentParser(prog="xling")
    F.register(parser.add_subparsers(dest="command", required=True))
    mirror, _ = pretrain_mirror
    dest = tmp_path / "dest"
    args = parser.parse_args(["data", "fetch", "--pretrain", "pretrain-debug", "--mirror", str(mirror),
                              "--dest", str(dest), "--quiet"])
    assert args.func(args) == 0
    assert "5 downloaded" in capsys.readouterr().out
    args = parser.parse_args(["data", "fetch", "--list", "--pretrain", "cpu-long", "--with-eval", "--dest",
                              str(dest)])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "apertium_kaz_segmentation_corpus" in out and "tatoeba_challenge" in out  # not fetchable: said
    assert "| UD_Turkish-IMST-train | udpos_turkic,udpos_turkic_tr |" in out
    for argv, error in ((["--pretrain", "dem", "--list"], "Did you mean demo"), (["--with-eval"], "only with --pretrain")):
        args = parser.parse_args(["data", "fetch", *argv])
        with pytest.raises(ValueError, match=error):
            args.func(args)
