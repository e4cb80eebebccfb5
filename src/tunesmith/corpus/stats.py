"""Corpus statistics for ``tunesmith inspect``: instruments, notes, ranges, distributions, frequent notes/chords."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tunesmith.music import Piece, chord_name, gm_name, pitch_name


@dataclass
class CorpusStats:
    """Everything ``inspect`` prints; arrays hold one value per pitched note."""

    pieces: int = 0
    styles: Counter = field(default_factory=Counter)
    instruments: Counter = field(default_factory=Counter)  # GM name -> tracks
    instrument_notes: Counter = field(default_factory=Counter)  # GM name -> notes
    drum_notes: int = 0
    pitches: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int16))
    durations: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))  # quarter notes
    velocities: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int16))
    chords: Counter = field(default_factory=Counter)  # note or chord name -> onsets
    seconds: float = 0.0  # total length in seconds at the pieces' tempos

    @property
    def notes(self) -> int:
        """Pitched notes."""
        return int(self.pitches.size)


def onset_groups(times: np.ndarray, pitches: np.ndarray) -> list[np.ndarray]:
    """Pitches grouped by identical onset time, in time order (the note/chord view of a piece)."""
    if times.size == 0:
        return []
    order = np.lexsort((pitches, times))
    times, pitches = times[order], pitches[order]
    cuts = np.flatnonzero(np.diff(times) > 1e-9) + 1
    return np.split(pitches, cuts)


def corpus_stats(pieces: list[Piece]) -> CorpusStats:
    """Statistics over the pitched notes of ``pieces`` (drum notes are only counted)."""
    stats = CorpusStats(pieces=len(pieces))
    pitch_parts, dur_parts, vel_parts = [], [], []
    for piece in pieces:
        stats.styles[piece.style] += 1
        stats.seconds += float(piece.score.to("second").end()) if piece.score.note_num() else 0.0
        times, pitches = [], []
        for track in piece.score.tracks:
            name = gm_name(track.program, track.is_drum)
            stats.instruments[name] += 1
            stats.instrument_notes[name] += len(track.notes)
            if track.is_drum:
                stats.drum_notes += len(track.notes)
                continue
            notes = track.notes.numpy()
            times.append(notes["time"])
            pitches.append(notes["pitch"])
            pitch_parts.append(notes["pitch"].astype(np.int16))
            dur_parts.append(notes["duration"].astype(np.float32))
            vel_parts.append(notes["velocity"].astype(np.int16))
        if times:
            for group in onset_groups(np.concatenate(times), np.concatenate(pitches)):
                stats.chords[chord_name(group)] += 1
    if pitch_parts:
        stats.pitches = np.concatenate(pitch_parts)
        stats.durations = np.concatenate(dur_parts)
        stats.velocities = np.concatenate(vel_parts)
    return stats


def _quantiles(values: np.ndarray) -> str:
    if values.size == 0:
        return "-"
    q = np.quantile(values, [0.0, 0.1, 0.5, 0.9, 1.0])
    return "min {:.3g}  p10 {:.3g}  median {:.3g}  p90 {:.3g}  max {:.3g}".format(*q)


def rare_share(chords: Counter, threshold: int) -> tuple[int, float]:
    """How many distinct notes/chords occur fewer than ``threshold`` times, and their share of all onsets."""
    total = sum(chords.values()) or 1
    rare = [c for c in chords.values() if c < threshold]
    return len(rare), sum(rare) / total


def format_stats(stats: CorpusStats, report: dict[str, Any] | None = None, top: int = 15) -> str:
    """A readable multi-line summary."""
    lines = []
    if report:
        s = report["summary"]
        lines.append(f"files: {s['files_found']} found, {s['files_kept']} kept, {s['files_skipped']} skipped")
    lines.append(f"pieces: {stats.pieces}   styles: {', '.join(f'{k} ({v})' for k, v in stats.styles.most_common(8))}")
    lines.append(f"notes: {stats.notes} pitched, {stats.drum_notes} drum   length: {stats.seconds / 60:.1f} min")
    if stats.notes:
        lo, hi = int(stats.pitches.min()), int(stats.pitches.max())
        lines.append(f"pitch range: {pitch_name(lo)} ({lo}) .. {pitch_name(hi)} ({hi})")
    lines.append(f"durations (quarters): {_quantiles(stats.durations)}")
    lines.append(f"velocities: {_quantiles(stats.velocities)}")
    lines.append("instruments (tracks, notes):")
    for name, tracks in stats.instruments.most_common():
        lines.append(f"  {name:<28} {tracks:>6} {stats.instrument_notes[name]:>9}")
    lines.append(f"distinct notes/chords: {len(stats.chords)}; most frequent:")
    for name, count in stats.chords.most_common(top):
        lines.append(f"  {name:<28} {count:>8}")
    for threshold in (5, 50):
        n_rare, share = rare_share(stats.chords, threshold)
        lines.append(f"  occurring < {threshold} times: {n_rare} distinct, {share:.1%} of onsets")
    return "\n".join(lines)


def plot_stats(stats: CorpusStats, path: Path, top: int = 20) -> None:
    """Histograms of pitch, duration and velocity, the instruments, and the most frequent notes/chords."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(16, 8.5))
    ax = axes[0, 0]
    if stats.notes:
        ax.hist(stats.pitches, bins=np.arange(stats.pitches.min(), stats.pitches.max() + 2) - 0.5, color="C0")
    ax.set(title="pitch", xlabel="MIDI pitch", ylabel="notes")
    ax = axes[0, 1]
    if stats.notes:
        ax.hist(np.clip(stats.durations, 1 / 32, 16), bins=np.geomspace(1 / 32, 16, 41), color="C1")
        ax.set_xscale("log", base=2)
    ax.set(title="duration", xlabel="quarter notes (log scale)", ylabel="notes")
    ax = axes[0, 2]
    if stats.notes:
        ax.hist(stats.velocities, bins=np.arange(0, 129, 4), color="C2")
    ax.set(title="velocity", xlabel="MIDI velocity", ylabel="notes")
    ax = axes[1, 0]
    names, counts = zip(*stats.instruments.most_common(12)) if stats.instruments else ((), ())
    ax.barh(list(names)[::-1], list(counts)[::-1], color="C3")
    ax.set(title="instruments", xlabel="tracks")
    ax = axes[1, 1]
    chords = stats.chords.most_common(top)
    if chords:
        names, counts = zip(*chords)
        ax.barh(list(names)[::-1], list(counts)[::-1], color="C4")
    ax.set(title=f"{top} most frequent notes/chords", xlabel="onsets")
    ax.tick_params(axis="y", labelsize=7)
    ax = axes[1, 2]
    if stats.chords:
        freq = np.sort(np.fromiter(stats.chords.values(), dtype=np.int64))[::-1]
        ax.loglog(np.arange(1, freq.size + 1), freq, color="C5")
    ax.set(title="note/chord frequency by rank", xlabel="rank", ylabel="onsets")
    fig.suptitle(f"{stats.pieces} pieces, {stats.notes} notes")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
