"""Memory held per token while training batches are drawn, against the one-hot windows the seeds built.

Run: ``make bench`` (or ``.venv/bin/python benchmarks/dataset_memory.py``). Writes
``benchmarks/results/dataset_memory.json``. Data: the Bollywood songs, all instruments, ``notechord`` tokens (the
seeds' note/chord vocabulary). The seeds turned every window into a one-hot float32 matrix up front:
``windows x seq_len x vocabulary x 4`` bytes; tunesmith keeps the ids (2 bytes each) in a memory map and cuts each
batch when it is drawn.
"""

from __future__ import annotations

import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import SHARED, machine, write_result
from tunesmith.cli import main as cli
from tunesmith.data import TokenData, WindowSampler, load_data_tokenizer


def rss_bytes() -> int:
    status = Path("/proc/self/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS"))) * 1024


def main() -> None:
    seq_len, batch_size, batches = 100, 64, 400
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "bollywood"
        args = ["prepare", str(SHARED / "data" / "bollywood"), "-o", str(data_dir), "--instruments", "all"]
        assert cli([*args, "--encoding", "notechord", "--transpose=-5..6", "-q"]) == 0
        tokenizer = load_data_tokenizer(data_dir)
        tables = {s: tokenizer.transposition_table(s) for s in range(-5, 7) if s}
        table_bytes = sum(t.nbytes for t in tables.values())

        # Warm the code path on the validation split, so the pages of numpy's and our code are already resident
        # and the growth below is the training data's alone.
        warm = WindowSampler(TokenData(data_dir, "valid"), seq_len, batch_size, tokenizer.pad_id, tables=tables)
        for _ in range(20):
            warm.batch()
        before = rss_bytes()
        tracemalloc.start()
        train = TokenData(data_dir, "train")
        sampler = WindowSampler(train, seq_len, batch_size, tokenizer.pad_id, seed=0, tables=tables)
        start = time.perf_counter()
        for _ in range(batches):
            x, y = sampler.batch()
        seconds = time.perf_counter() - start
        _, python_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        after = rss_bytes()

        tokens = len(train)
        held = after - before  # resident growth: touched pages of the map, piece index, sampler, batch arrays
        windows = sampler.windows
        one_hot = windows * seq_len * len(tokenizer) * 4
        result = {
            "machine": machine(),
            "command": "make bench  (python benchmarks/dataset_memory.py)",
            "corpus": "bollywood, --instruments all, notechord, --transpose=-5..6 (on the fly)",
            "train_tokens": tokens,
            "vocabulary": len(tokenizer),
            "dtype": str(train.ids.dtype),
            "file_bytes": int(train.ids.nbytes) if tokens else 0,
            "resident_growth_bytes": held,
            "python_heap_peak_bytes": python_peak,
            "transposition_tables_bytes": table_bytes,
            "bytes_per_token_resident": round(held / tokens, 3),
            "bytes_per_token_python_heap_peak": round(python_peak / tokens, 3),
            "batches_drawn": batches,
            "batch": [batch_size, seq_len],
            "batches_per_s": round(batches / seconds, 1),
            "seed_one_hot_windows": windows,
            "seed_one_hot_bytes": one_hot,
            "seed_one_hot_gib": round(one_hot / 2**30, 2),
            "window_matrix_materialised": False,
        }
        assert x.shape == (batch_size, seq_len) and y.shape == (batch_size, seq_len)
    path = write_result("dataset_memory", result)
    print(
        f"{tokens} training tokens, vocabulary {len(tokenizer)}: resident growth {held / tokens:.2f} B/token, "
        f"python heap peak {python_peak / tokens:.2f} B/token, {result['batches_per_s']} batches/s; "
        f"the seeds' one-hot windows would take {result['seed_one_hot_gib']} GiB"
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
