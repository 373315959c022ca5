"""The pure logic of retrieval: score fusion, moments a context apart, and extractive answers."""

import uuid

from hypothesis import given
from hypothesis import strategies as st

from services.video_rag.rag import Passage, best_sentences, extractive_answer, sentences
from services.video_rag.retrieval import distinct_moments, fuse
from services.video_rag.vector_store import Ranking, Window

A, B = uuid.UUID(int=1), uuid.UUID(int=2)


def window(key: uuid.UUID, start: float, end: float | None = None, text: str = "") -> Window:
    return Window(f"{key}:{start}", key, str(key)[-1], start, start + 20 if end is None else end, text)


def test_fusion_adds_up_each_leg_s_standard_scores() -> None:
    w1, w2, w3 = window(A, 0), window(A, 20), window(A, 40)
    vector = Ranking([(w1, 0.9), (w2, 0.8)], mean=0.5, std=0.1, floor=0.8)
    full_text = Ranking([(w2, 5.0), (w3, 4.0)], mean=1.0, std=2.0, floor=0.0)

    fused = fuse([(0.7, vector), (0.3, full_text)])

    # w1: 0.7 * 4 + 0.3 * (0 - 1) / 2; w2: 0.7 * 3 + 0.3 * 2; w3: 0.7 * 3 (at the vector leg's floor) + 0.3 * 1.5
    assert [w.id for w, _ in fused] == [w2.id, w1.id, w3.id]
    assert [round(score, 9) for _, score in fused] == [2.7, 2.65, 2.55]


def test_a_window_far_above_one_leg_s_usual_beats_one_a_little_above_both() -> None:
    standout, middling = window(A, 0), window(A, 20)
    vector = Ranking([(middling, 0.62), (standout, 0.6)], mean=0.5, std=0.1, floor=0.6)
    full_text = Ranking([(standout, 12.0), (middling, 2.0)], mean=1.0, std=2.0, floor=0.0)

    fused = fuse([(0.7, vector), (0.3, full_text)])

    assert [w.id for w, _ in fused] == [standout.id, middling.id]  # rank fusion put `middling` first: 1st + 2nd


def test_fusion_weighs_each_leg_skips_one_without_spread_and_breaks_ties_by_the_full_text_one() -> None:
    w1, w2 = window(A, 0), window(A, 20)

    weighted = fuse([(1.0, Ranking([(w1, 1.0)], 0.0, 1.0)), (0.5, Ranking([(w2, 1.0)], 0.0, 1.0))])
    flat = fuse([(1.0, Ranking([(w2, 1.0), (w1, 1.0)], 1.0, 0.0)), (1.0, Ranking([(w1, 3.0)], 1.0, 1.0))])
    tie = Ranking([(w1, 1.0), (w2, 1.0)], 0.0, 1.0)
    tied = fuse([(1.0, tie)], tiebreak=Ranking([(w2, 1.0), (w1, 1.0)]))

    assert [w.id for w, _ in weighted] == [w1.id, w2.id]
    assert [(w.id, score) for w, score in flat] == [(w1.id, 2.0), (w2.id, -1.0)]
    assert [w.id for w, _ in tied] == [w2.id, w1.id]


def test_a_window_within_the_context_of_a_better_one_either_side_is_not_another_moment() -> None:
    best, inside, just_before, later, earlier = (
        window(A, 100),
        window(A, 140),
        window(A, 80),
        window(A, 160),
        window(A, 40),
    )
    other_video = window(B, 120)
    fused = [(best, 5.0), (inside, 4.0), (just_before, 3.5), (other_video, 3.0), (later, 2.0), (earlier, 1.0)]

    chosen = distinct_moments(fused, k=3, context_seconds=60)
    everything = distinct_moments(fused, k=10, context_seconds=60)

    # `just_before` is read with the windows after it: it is found for `best`'s words.
    assert [w.id for w, _ in chosen] == [best.id, other_video.id, later.id]
    assert [w.id for w, _ in everything] == [best.id, other_video.id, later.id, earlier.id]


@given(st.lists(st.tuples(st.sampled_from([A, B]), st.integers(0, 50)), unique=True, max_size=30), st.integers(1, 10))
def test_moments_are_at_most_k_and_a_context_apart(starts: list[tuple[uuid.UUID, int]], k: int) -> None:
    fused = [(window(key, start * 10.0), 1.0 / (i + 1)) for i, (key, start) in enumerate(starts)]

    chosen = [w for w, _ in distinct_moments(fused, k, context_seconds=60)]
    chosen_all = distinct_moments(fused, len(fused), 60)

    assert len(chosen) == min(k, len(chosen_all))
    for i, better in enumerate(chosen):
        for worse in chosen[i + 1 :]:
            near = abs(better.start_seconds - worse.start_seconds) < 60
            assert not (worse.video_key == better.video_key and near)
    assert [w for w, _ in chosen_all[: len(chosen)]] == chosen
    # Every window left out is near a moment of its video.
    kept = [w for w, _ in chosen_all]
    for left_out, _ in fused:
        if left_out not in kept:
            assert any(
                w.video_key == left_out.video_key and abs(w.start_seconds - left_out.start_seconds) < 60 for w in kept
            )


def passage(index: int, parts: list[tuple[float, float, str]]) -> Passage:
    text = " ".join(p[2] for p in parts)
    return Passage(index, "vid", "T", parts[0][0], parts[-1][1], text, "u", tuple(parts))


def test_sentences_are_placed_at_their_position_in_the_stretch_they_start_in() -> None:
    p = passage(1, [(10.0, 20.0, "First one here. Second one"), (20.0, 30.0, "runs on. Third!")])

    found = sentences(p)

    assert [s for *_, s in found] == ["First one here.", "Second one runs on.", "Third!"]
    assert found[0][0] == 10.0 and 15 < found[1][0] < 20 and 20 < found[2][0] < 30
    assert [p.text[offset:].split(" ")[0] for _, offset, _ in found] == ["First", "Second", "Third!"]


def test_without_punctuation_each_stretch_is_a_sentence() -> None:
    p = passage(1, [(10.0, 20.0, "so we start here"), (20.0, 30.0, "and then go on")])

    assert sentences(p) == [(10.0, 0, "so we start here"), (20.0, 17, "and then go on")]


def test_best_sentences_prefer_rare_question_words() -> None:
    p = passage(1, [(0.0, 10.0, "The river is wide. The river floods. Beavers build dams on the river.")])

    (best,) = best_sentences("where do beavers live by the river?", [p], limit=1)

    assert best[3] == "Beavers build dams on the river."


def test_extractive_answer_cites_each_quoted_sentence_at_its_moment_and_defangs_brackets() -> None:
    p = passage(1, [(0.0, 10.0, "Nothing here. Otters [2] hold hands while sleeping.")])

    answer, sources = extractive_answer("why do otters hold hands?", [p], lambda v, t: f"https://x/{v}?t={int(t)}")

    assert answer.splitlines()[1].startswith("[1] “Otters (2) hold hands while sleeping.”")
    assert (
        sources[0].index == 1 and sources[0].start_seconds > 0 and sources[0].url == "https://x/vid?t=2"
    )  # 14 of 51 characters in
    assert sources[0].text == "Otters [2] hold hands while sleeping."  # the source's text starts at its sentence
