"""`finetune.suffix_features`: word endings beside the encoder, for tagging."""

from __future__ import annotations

import random

import numpy as np
import pytest

from eval_xtreme import finetune as ft
from eval_xtreme.finetune import FinetuneConfig, finetune, load_model, predict
from eval_xtreme.loaders import TaggedSentence
from eval_xtreme.suffix_features import SuffixTagger, SuffixVocab, suffix_keys, turkic_spelling
from eval_xtreme.tasks import get_task
from xling.core.errors import InputError

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tests/conftest.py


def test_vocabulary_shares_endings_marks_short_words_and_knows_only_training_endings():
    vocab = SuffixVocab.build(["kitaplar", "okullar", "ar", "Kitaplar"], 4)
    kitaplar, okullar = vocab.ids("kitaplar"), vocab.ids("okullar")
    assert kitaplar[:3] == okullar[:3]  # r, ar, lar
    assert kitaplar[3] != okullar[3]  # plar vs llar
    assert vocab.ids("KITAPLAR") == kitaplar  # lower-cased
    ar = vocab.ids("ar")
    assert ar[:2] == kitaplar[:2] and ar[2] != kitaplar[2]  # "^ar" (a whole word) is not "lar"
    assert ar[3] == 0  # "^ar" has 3 characters: no 4-character feature
    # by hand: r, ar, ^ar, lar, plar, llar — 6 distinct endings, ids 1..6
    assert len(vocab) == 6 and sorted(set(kitaplar + okullar + ar[:3])) == list(range(1, 7))
    # an ending training never showed is no feature, exactly (no hash bucket shared by collision)
    assert vocab.ids("كىتابلار") == [0, 0, 0, 0]
    assert vocab.ids("кітаптар") == [0, 0, 0, 0]
    assert vocab.ids("masalar") == [*kitaplar[:3], 0]
    # the ids do not depend on the order of the training sentences
    assert SuffixVocab.build(["ar", "okullar", "Kitaplar", "kitaplar"], 4).keys == vocab.keys


def test_vocabulary_round_trips_and_refuses_hashed_taggers():
    vocab = SuffixVocab.build(["ev", "okul", "kitap"], 2)
    back = SuffixVocab.from_json(vocab.to_json())
    assert back.keys == vocab.keys and back.ids("kitap") == vocab.ids("kitap")
    with pytest.raises(ValueError, match="format"):
        SuffixVocab.from_json({"max_len": 4, "buckets": 16384, "hash": "crc32", "word_start": "^"})


def test_an_unseen_script_gets_no_feature_on_real_treebanks(data_root):
    """The reason for an exact vocabulary: hashed into 16,384 buckets, most Uyghur endings hit a bucket
    training used; here a Uyghur (Arabic-script) ending has a feature only if Turkish training had it."""
    import lzma

    def words(path):
        with lzma.open(path, "rt", encoding="utf-8") as f:
            return [c[1] for c in (ln.split("\t") for ln in f) if len(c) == 10 and c[0].isdigit()]

    tr = words(data_root / "udpos" / "UD_Turkish-IMST" / "tr_imst-ud-train.conllu.xz")
    ug = words(data_root / "udpos" / "UD_Uyghur-UDT" / "ug_udt-ud-dev.conllu.xz")
    vocab = SuffixVocab.build(tr, 6)
    endings = {k for w in tr for k in suffix_keys(w, 6) if k is not None}
    slots = [(i, k) for w in ug[:3000] for i, k in zip(vocab.ids(w), suffix_keys(w, 6), strict=True) if k]
    assert all((i > 0) == (k in endings) for i, k in slots)
    assert sum(i > 0 for i, _ in slots) < 0.2 * len(slots)  # punctuation and digits only, mostly


@pytest.mark.parametrize(("word", "spelled"), [
    # by hand, letter by letter (Turkish writes ы ı, і i, ң n, қ k, ғ ğ, ш ş, ә e; ULY sh ş, ch ç, ng n, q k)
    ("балалардың", "balalardın"),      # Kazakh genitive plural: Turkish -ların
    ("Мектептерде", "mektepterde"),    # locative plural, capital lower-cased
    ("шығармашылығы", "şığarmaşılığı"),
    ("сәлем", "selem"),
    ("бардық", "bardık"),
    ("بالىلارنىڭ", "balilarnin"),        # Uyghur ULY balilarning
    ("مەكتەپلەردە", "mekteplerde"),      # ULY mekteplerde
    ("ئۈرۈمچىدە", "ürümçide"),           # ULY ürümchide: the hamza carrier is no letter
    ("قىشلاق", "kişlak"),                # ULY qishlaq
    ("çocukların", "çocukların"),      # Latin words are only lower-cased
    ("Evlerde", "evlerde"),
    ("running", "running"),
    ("1990", "1990"),
])
def test_turkic_spelling_by_hand(word, spelled):
    assert turkic_spelling(word) == spelled


def test_turkic_spelling_gives_three_scripts_one_key_and_is_recorded():
    vocab = SuffixVocab.build(["kitaplar", "evlerde", "okulların"], 4, spelling="turkic")
    assert vocab.ids("кітаптар")[:2] == vocab.ids("kitaplar")[:2] and vocab.ids("кітаптар")[2] == 0  # "tar" unseen
    assert vocab.ids("балалар") == [*vocab.ids("kitaplar")[:3], 0]
    assert vocab.ids("كىتابلار") == [*vocab.ids("kitaplar")[:3], 0]  # ULY kitablar: "blar" unseen
    assert vocab.ids("үйлерде") == vocab.ids("evlerde")  # Kazakh locative plural = Turkish -lerde
    assert vocab.ids("балалардың")[:2] == vocab.ids("okulların")[:2]  # -n, -ın (then -dın vs -rın)
    native = SuffixVocab.build(["kitaplar", "evlerde"], 4)
    assert native.ids("үйлерде") == [0, 0, 0, 0]
    back = SuffixVocab.from_json(vocab.to_json())
    assert back.spelling == "turkic" and back.ids("үйлерде") == vocab.ids("үйлерде")
    spec = native.to_json()
    del spec["spelling"]  # written before the setting existed: endings as written
    assert SuffixVocab.from_json(spec).spelling == "native"
    with pytest.raises(ValueError, match="spelling"):
        SuffixVocab.build(["ev"], 2, spelling="latin")
    with pytest.raises(ValueError, match="suffix_spelling"):
        FinetuneConfig(suffix_features=2, suffix_spelling="latin")
    assert "suffix_spelling" not in ft.recorded_settings(FinetuneConfig(suffix_features=2))
    assert ft.recorded_settings(FinetuneConfig(suffix_features=2, suffix_spelling="turkic"))["suffix_spelling"] == \
        "turkic"


def test_turkic_spelling_gives_uyghur_and_kazakh_endings_turkish_features_on_real_treebanks(data_root):
    """Uyghur (Arabic) dev and Kazakh (Cyrillic) words whose 3-letter ending Turkish-IMST training has:
    none as written; with the Turkic spelling, a share checked here against a count made with the
    view functions of `xling.translit` (a second route to the same letters)."""
    import lzma

    from xling.translit import kk_cyrl_to_latn, uey_to_uly

    def words(path):
        with lzma.open(path, "rt", encoding="utf-8") as f:
            return [c[1] for c in (ln.split("\t") for ln in f) if len(c) == 10 and c[0].isdigit()]

    ud = data_root / "udpos"
    tr = words(ud / "UD_Turkish-IMST" / "tr_imst-ud-train.conllu.xz")
    ug = words(ud / "UD_Uyghur-UDT" / "ug_udt-ud-dev.conllu.xz")[:3000]
    kk = words(ud / "UD_Kazakh-KTB" / "kk_ktb-ud-train.conllu.xz")
    native, turkic = SuffixVocab.build(tr, 3), SuffixVocab.build(tr, 3, spelling="turkic")

    def share(vocab, ws):
        return sum(vocab.ids(w)[2] > 0 for w in ws) / len(ws)

    assert share(native, ug) < 0.01 and share(native, kk) < 0.02
    assert share(turkic, ug) > 0.5 and share(turkic, kk) > 0.5
    # the same Uyghur words through ULY with the digraph rewrites done by str.replace
    def uly_turkic(w):
        x = uey_to_uly(w).replace("'", "")
        for a, b in (("sh", "ş"), ("ch", "ç"), ("gh", "ğ"), ("zh", "\0"), ("ng", "n"), ("j", "c"), ("q", "k"),
                     ("x", "h"), ("é", "e"), ("w", "v"), ("\0", "j")):
            x = x.replace(a, b)
        return x
    tr3 = {("^" + w.lower())[-3:] for w in tr if len(w) >= 2}
    assert share(turkic, ug) == sum(("^" + uly_turkic(w))[-3:] in tr3 for w in ug) / len(ug)
    # Kazakh through the 2021 Latin view, its letters that Turkish writes otherwise rewritten (і ı → i,
    # ы y → ı, ә ä → e, ң ñ → n, қ q → k, ұ ū → u); words with letters the two spell differently (й ё ю я
    # щ ц) are left out of this comparison
    rewrite = str.maketrans({"ı": "i", "y": "ı", "ä": "e", "ñ": "n", "q": "k", "ū": "u"})
    kk = [w for w in kk if not set(w.lower()) & set("йёюящц")]
    assert share(turkic, kk) == sum(("^" + kk_cyrl_to_latn(w.lower()).translate(rewrite))[-3:] in tr3
                                    for w in kk) / len(kk)


def test_turkic_spelling_reads_the_words_before_a_view(tiny_encoder):
    """In a run with the Uyghur Latin view the tagger sees ULY tokens; its Turkic-spelled endings come from
    the words as the data wrote them (ULY `barghan` would otherwise not meet the `barğan` that Arabic-script
    Uyghur gets), while endings as written read the viewed tokens."""
    from eval_xtreme.views import apply_view

    task = get_task("udpos_turkic_tr")
    tok, _ = load_model(task, str(tiny_encoder))
    arabic = [TaggedSentence("u", ["بارغان", "قىشلاق"], ["VERB", "NOUN"])]
    viewed = apply_view(task, "ug", arabic, ["ug"])
    assert viewed[0].tokens == ["barghan", "qishlaq"] and viewed[0].written == arabic[0].tokens
    assert apply_view(task, "ug", viewed, ["ug"])[0].written == arabic[0].tokens  # the first writing is kept

    def ids(examples, vocab):
        feats = ft.make_features(task, examples, tok, FinetuneConfig(), train=False, suffixes=vocab)
        return [row for f in feats for row, w in zip(f["suffix_ids"], f["word_index"], strict=True) if w >= 0]

    turkic = SuffixVocab.build(["kalğan", "kışlak"], 4, spelling="turkic")
    expected = [turkic.ids("barğan"), turkic.ids("kişlak")]
    assert expected[0][2] > 0 and expected[1][2] > 0  # -ğan, -lak
    assert ids(viewed, turkic) == ids(arabic, turkic) == expected
    assert turkic.ids("barghan")[2] == 0  # the ULY token itself: -han, no Turkish ending
    native = SuffixVocab.build(["kalğan", "kışlak", "barghan"], 4)
    assert ids(viewed, native) == [native.ids("barghan"), native.ids("qishlaq")] != ids(arabic, native)


def test_without_suffix_ids_the_wrapper_computes_the_hf_model(tiny_encoder):
    """All-zero suffix ids (no feature) → the same logits and loss as the wrapped model's own forward."""
    import torch

    task = get_task("udpos")
    tok, net = load_model(task, str(tiny_encoder))
    net.eval()
    wrapped = SuffixTagger(net, SuffixVocab.build(["kitaplar"], 3)).eval()
    enc = tok(["kitaplar okullar", "бір екі үш"], padding=True, return_tensors="pt")
    labels = torch.full(enc["input_ids"].shape, -100)
    labels[:, 1] = 3
    zero = torch.zeros((*enc["input_ids"].shape, 3), dtype=torch.long)
    with torch.no_grad():
        ref = net(**enc, labels=labels)
        got = wrapped(**enc, suffix_ids=zero, labels=labels)
        torch.testing.assert_close(got.logits, ref.logits)
        torch.testing.assert_close(got.loss, ref.loss)
        some = zero.clone()
        some[:, 1] = torch.tensor(wrapped.vocab.ids("kitaplar"))
        # an ending training never used is no feature: the model's own logits
        torch.testing.assert_close(wrapped(**enc, suffix_ids=some).logits, ref.logits)
        wrapped.seen[some.flatten()] = True
        moved = wrapped(**enc, suffix_ids=some).logits
    assert not torch.equal(moved[:, 1], ref.logits[:, 1]) and torch.equal(moved[:, 2:], ref.logits[:, 2:])
    with pytest.raises(InputError, match="suffix features"):
        wrapped(**enc)


def test_training_drops_whole_words_suffix_vectors_and_records_what_it_used(tiny_encoder):
    """With dropout p, about a share p of the words lose all their suffix vectors at once (the others
    keep all of them), and the features actually used are marked as seen."""
    import torch

    task = get_task("udpos")
    _tok, net = load_model(task, str(tiny_encoder))
    ft.set_dropout(net, 0.0)  # the encoder's own dropout off: only the suffix dropout differs below
    torch.manual_seed(0)
    words = [f"w{i}lar" for i in range(400)]
    vocab = SuffixVocab.build(words, 4)
    wrapped = SuffixTagger(net, vocab, dropout=0.5).train()
    ids = torch.tensor([[vocab.ids(w) for w in words[k:k + 100]] for k in range(0, len(words), 100)])
    input_ids = torch.full(ids.shape[:2], 5)
    with torch.no_grad():
        plain = net(input_ids=input_ids).logits
        got = wrapped(input_ids=input_ids, suffix_ids=ids).logits
    changed = (got - plain).abs().amax(-1) > 0
    assert 0.4 < changed.float().mean().item() < 0.6
    assert wrapped.seen[ids[0, 0]].all()  # "r", "ar", "lar", and the 4-letter ending of some word
    # only ids that occurred (and 0): an exact vocabulary of "r", "ar", "lar" and "0lar".."9lar"
    assert set(wrapped.seen.nonzero().flatten().tolist()) == set(range(len(vocab) + 1)) and len(vocab) == 13


def _suffix_corpus(n: int, seed: int) -> list[TaggedSentence]:
    """Sentences of made-up words whose tag only their ending tells: stems never repeat between the
    training and the test set (different seeds draw from disjoint letters)."""
    rng = random.Random(seed)
    letters = "bcdfgkmnpt" if seed == 0 else "hjqsvwxzy"
    endings = {"lar": "NOUN", "dim": "VERB", "li": "ADJ"}
    out = []
    for i in range(n):
        words, tags = [], []
        for _ in range(rng.randint(3, 6)):
            end = rng.choice(sorted(endings))
            words.append("".join(rng.choice(letters) + rng.choice("aeiou") for _ in range(rng.randint(2, 3))) + end)
            tags.append(endings[end])
        out.append(TaggedSentence(f"s{seed}-{i}", words, tags))
    return out


def test_suffix_features_tag_unseen_words_by_their_ending(tiny_encoder, tmp_path):
    """With the features the tagger learns the ending rule and applies it to words it never saw; the same
    fine-tuning without them cannot read the ending from a word's first piece. The saved tagger
    (`best/`) is put back together by `load_model`."""
    task = get_task("udpos")
    train, test = _suffix_corpus(120, 0), _suffix_corpus(40, 1)
    accuracy = {}
    for n in (0, 3):
        cfg = FinetuneConfig(max_steps=60, batch_size=8, learning_rate=3e-3, suffix_features=n)
        res = finetune(task, str(tiny_encoder), train, [], tmp_path / f"suffix-{n}", cfg)
        tok, net = load_model(task, str(res.model_dir))
        assert isinstance(net, SuffixTagger) == bool(n)
        if n:
            assert not net.suffix.weight[0].any()  # id 0 is "no feature" and stays zero
        preds = predict(task, net, tok, test, cfg)
        gold = [t for s in test for t in s.tags]
        accuracy[n] = np.mean([p == g for p, g in zip([t for p in preds for t in p], gold, strict=True)])
    assert accuracy[3] >= 0.95, accuracy
    assert accuracy[0] <= 0.7, accuracy


def test_setting_is_checked_recorded_only_when_set_and_a_broken_folder_is_named(tiny_encoder, tmp_path):
    with pytest.raises(ValueError, match="suffix_features"):
        FinetuneConfig(suffix_features=-1)
    with pytest.raises(ValueError, match="suffix_dropout"):
        FinetuneConfig(suffix_features=2, suffix_dropout=1.0)
    with pytest.raises(ValueError, match="suffix_lr_scale"):
        FinetuneConfig(suffix_features=2, suffix_lr_scale=0.0)
    assert not {"suffix_features", "suffix_dropout", "suffix_lr_scale"} & \
        set(ft.recorded_settings(FinetuneConfig()))
    assert ft.recorded_settings(FinetuneConfig(suffix_features=4, suffix_lr_scale=10.0))["suffix_lr_scale"] == 10.0
    assert ft.recorded_settings(FinetuneConfig(suffix_features=4))["suffix_features"] == 4
    task = get_task("udpos")
    tok, net = load_model(task, str(tiny_encoder))
    folder = tmp_path / "tagger"
    SuffixTagger(net, SuffixVocab.build(["ev"], 2)).save_pretrained(folder)
    tok.save_pretrained(folder)
    assert isinstance(load_model(task, str(folder))[1], SuffixTagger)
    (folder / "suffix_features.json").write_text('{"max_len": 2}')
    with pytest.raises(InputError, match=r"suffix_features\.json"):
        load_model(task, str(folder))
