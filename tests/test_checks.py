"""Unit tests of the assignment's checks and rulebook, and the equivalence of checks and grader.

A small reference solution is trained once (smoke-sized data, the notebook's own
recipe) and its namespace is then broken in one way per test: each wrong answer
must fail exactly the parts that should catch it, with a message that says what
was expected and what was found. Correct variants (another seed, a different
architecture, more epochs, extra layers) must pass everything.

The equivalence test runs the grader's three scoring steps in this process (the answer
evidence as the injected export cells gather it, the models saved as ``.keras`` and
evaluated after a ``safe_mode`` reload, the rulebook on held-out images) over the same
corpus: for every part, the notebook's checks pass ⇔ the grader awards the part.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("AECOURSE_SMOKE", "1")

from aecourse import config, data  # noqa: E402
from aecourse.assignments import denoising_dimension_reduction as spec  # noqa: E402
from aecourse.assignments.denoising_dimension_reduction import checks  # noqa: E402

PARTS = tuple(checks.CHECKS)


@pytest.fixture(scope="module", autouse=True)
def _save_dir(tmp_path_factory):
    """check_model saves encoder.keras / autoencoder.keras: into a temporary folder here."""
    checks.SAVE_DIR = str(tmp_path_factory.mktemp("models"))
    yield
    checks.SAVE_DIR = "."


# --------------------------------------------------------------------------- building namespaces
def add_noise(x, noise_factor, seed):
    rng = np.random.default_rng(seed)
    return np.clip(x + noise_factor * rng.standard_normal(x.shape), 0.0, 1.0).astype("float32")


def build_models(latent_dim=spec.LATENT_DIM, filters=(32, 64)):
    import keras
    from keras import layers

    inputs = keras.Input(shape=(28, 28, 1))
    h = layers.Conv2D(filters[0], 3, strides=2, padding="same", activation="relu")(inputs)
    h = layers.Conv2D(filters[1], 3, strides=2, padding="same", activation="relu")(h)
    z = layers.Dense(latent_dim)(layers.Flatten()(h))
    encoder = keras.Model(inputs, z, name="encoder")
    code = keras.Input(shape=(latent_dim,))
    h = layers.Reshape((7, 7, filters[1]))(layers.Dense(7 * 7 * filters[1], activation="relu")(code))
    h = layers.Conv2DTranspose(filters[1], 3, strides=2, padding="same", activation="relu")(h)
    h = layers.Conv2DTranspose(filters[0], 3, strides=2, padding="same", activation="relu")(h)
    out = layers.Conv2D(1, 3, padding="same", activation="sigmoid")(h)
    decoder = keras.Model(code, out, name="decoder")
    autoencoder = keras.Model(inputs, decoder(encoder(inputs)), name="autoencoder")
    autoencoder.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy")
    return encoder, autoencoder


def load(noise=add_noise):
    (x_train, y_train), (x_test, y_test) = data.load_mnist(dtype="float32", layout="channels",
                                                          n_train=2000, n_test=500)
    ns = dict(add_noise=noise, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    ns["x_train_noisy"] = noise(x_train, spec.NOISE_FACTOR, spec.NOISE_SEED)
    ns["x_test_noisy"] = noise(x_test, spec.NOISE_FACTOR, spec.NOISE_SEED + 1)
    return ns


def train(ns, encoder, autoencoder, epochs=10):
    autoencoder.fit(ns["x_train_noisy"], ns["x_train"], epochs=epochs, batch_size=64, verbose=0)
    ns["encoder"], ns["autoencoder"] = encoder, autoencoder
    return ns


def downstream(ns, denoised=None):
    """Compute every answer after the model from ns, as the notebook's later cells do."""
    from sklearn.decomposition import PCA
    from sklearn.neighbors import KNeighborsClassifier

    x_test, x_test_noisy, x_train_noisy = ns["x_test"], ns["x_test_noisy"], ns["x_train_noisy"]
    ns["x_test_denoised"] = (ns["autoencoder"].predict(x_test_noisy, verbose=0) if denoised is None
                             else denoised(ns))
    ns["ae_mse"] = float(np.mean((ns["x_test_denoised"] - x_test) ** 2))
    pca = PCA(n_components=spec.LATENT_DIM, random_state=0).fit(x_train_noisy.reshape(len(x_train_noisy), -1))
    flat_test = x_test_noisy.reshape(len(x_test_noisy), -1)
    ns["pca_test_denoised"] = pca.inverse_transform(pca.transform(flat_test)).reshape(x_test.shape)
    ns["pca_mse"] = float(np.mean((ns["pca_test_denoised"] - x_test) ** 2))
    ns["z_train"] = ns["encoder"].predict(x_train_noisy, verbose=0)
    ns["z_test"] = ns["encoder"].predict(x_test_noisy, verbose=0)
    knn = KNeighborsClassifier(n_neighbors=spec.KNN_K)
    ns["knn_accuracy_ae"] = float(knn.fit(ns["z_train"], ns["y_train"]).score(ns["z_test"], ns["y_test"]))
    p_train = pca.transform(x_train_noisy.reshape(len(x_train_noisy), -1))
    ns["knn_accuracy_pca"] = float(knn.fit(p_train, ns["y_train"]).score(pca.transform(flat_test), ns["y_test"]))
    ns["z_test_2d"] = PCA(n_components=2).fit_transform(ns["z_test"])
    return ns


def correct_namespace(seed=0, latent_dim=spec.LATENT_DIM, filters=(32, 64), epochs=10):
    config.setup(seed=seed, plots=False)
    ns = load()
    return downstream(train(ns, *build_models(latent_dim, filters), epochs=epochs))


def failing(ns, heldout=True):
    results = checks.run_all(ns, heldout=heldout)
    return {part for part, msg in results.items() if msg is not None}, results


def pca_as_models(ns):
    """PCA with LATENT_DIM components written as Keras models: 'PCA dressed up as the autoencoder'."""
    import keras
    from keras import layers
    from sklearn.decomposition import PCA

    pca = PCA(n_components=spec.LATENT_DIM).fit(ns["x_train_noisy"].reshape(len(ns["x_train_noisy"]), -1))
    inputs = keras.Input(shape=(28, 28, 1))
    dense_in = layers.Dense(spec.LATENT_DIM)
    z = dense_in(layers.Flatten()(inputs))
    encoder = keras.Model(inputs, z)
    dense_out = layers.Dense(784)
    out = layers.Reshape((28, 28, 1))(dense_out(z))
    autoencoder = keras.Model(inputs, out)
    dense_in.set_weights([pca.components_.T, -pca.mean_ @ pca.components_.T])
    dense_out.set_weights([pca.components_, pca.mean_])
    return encoder, autoencoder


def identity_model():
    import keras

    inputs = keras.Input(shape=(28, 28, 1))
    return keras.Model(inputs, keras.layers.Identity()(inputs))


def no_noise(x, noise_factor, seed):
    return np.array(x, dtype="float32")


def unclipped_noise(x, noise_factor, seed):
    rng = np.random.default_rng(seed)
    return (x + noise_factor * rng.standard_normal(x.shape)).astype("float32")


def with_noise(ns, noise):
    """ns with another add_noise and the noisy arrays and later answers recomputed (same trained model)."""
    ns = dict(ns, add_noise=noise)
    ns["x_train_noisy"] = noise(ns["x_train"], spec.NOISE_FACTOR, spec.NOISE_SEED)
    ns["x_test_noisy"] = noise(ns["x_test"], spec.NOISE_FACTOR, spec.NOISE_SEED + 1)
    return downstream(ns)


# Each wrong answer, the parts that must fail (no more, no fewer), and words the message must hold.
def _wrong_code_size(ref):
    config.setup(seed=0, plots=False)
    ns = load()
    return downstream(train(ns, *build_models(latent_dim=64)))


def _no_noise(ref):
    return with_noise(ref, no_noise)


def _unclipped(ref):
    return with_noise(ref, unclipped_noise)


def _identity_output(ref):
    ns = dict(ref, x_test_denoised=ref["x_test_noisy"].copy())
    ns["ae_mse"] = float(np.mean((ns["x_test_denoised"] - ns["x_test"]) ** 2))
    return ns


def _identity_model(ref):
    ns = dict(ref, autoencoder=identity_model())
    return downstream(ns)


def _pca_dressed_up(ref):
    encoder, autoencoder = pca_as_models(ref)
    return downstream(dict(ref, encoder=encoder, autoencoder=autoencoder))


def _untrained(ref):
    config.setup(seed=0, plots=False)
    encoder, autoencoder = build_models()
    return downstream(dict(ref, encoder=encoder, autoencoder=autoencoder))


def _collapsed(ref):
    ns = dict(ref, x_test_denoised=np.zeros_like(ref["x_test"]))
    ns["ae_mse"] = float(np.mean(ns["x_test"] ** 2))
    return ns


WRONG_ANSWERS = {
    "wrong code size": (_wrong_code_size, {"model", "codes"},
                        {"model": "the encoder's last layer sets the code size",
                         "codes": "the codes have shape (2000, 64); expected (2000, 16)"}),
    "no noise added": (_no_noise, {"noise"}, {"noise": "no noise was added"}),
    "unclipped noise": (_unclipped, {"noise"}, {"noise": "not clipped"}),
    "identity output": (_identity_output, {"denoise"}, {"denoise": "x_test_denoised is the autoencoder's output"}),
    "identity model": (_identity_model, {"model", "denoise", "pca"}, {"denoise": "identity"}),
    "PCA dressed up as the autoencoder": (_pca_dressed_up, {"model", "denoise", "pca", "codes"},
                                          {"model": "no convolution layer", "codes": "PCA dressed up"}),
    "untrained model": (_untrained, {"model", "denoise", "pca", "knn"},
                        {"model": "untrained", "denoise": "untrained"}),
    "collapsed all-zero output": (_collapsed, {"denoise"}, {"denoise": "x_test_denoised is the autoencoder's output"}),
}


# --------------------------------------------------------------------------- tests
@pytest.fixture(scope="module")
def reference():
    return correct_namespace()


def test_reference_solution_passes_every_check(reference):
    failed, results = failing(reference)
    assert failed == set(), results


@pytest.mark.parametrize("name", list(WRONG_ANSWERS))
def test_wrong_answer_fails_exactly_the_checks_that_catch_it(reference, name):
    make, expected, words = WRONG_ANSWERS[name]
    failed, results = failing(make(reference))
    assert failed == expected, {p: results[p] for p in failed | expected}
    for part, text in words.items():
        assert text in results[part], results[part]
    for part in failed:
        msg = results[part]
        assert "expected:" in msg and "found:" in msg, msg


def extra_layers_namespace():
    """A deeper model: an extra convolution in the encoder and the decoder, another seed."""
    import keras
    from keras import layers

    config.setup(seed=2, plots=False)
    ns = load()
    inputs = keras.Input(shape=(28, 28, 1))
    h = layers.Conv2D(16, 3, padding="same", activation="relu")(inputs)
    h = layers.Conv2D(32, 3, strides=2, padding="same", activation="relu")(h)
    h = layers.Conv2D(64, 3, strides=2, padding="same", activation="relu")(h)
    encoder = keras.Model(inputs, layers.Dense(spec.LATENT_DIM)(layers.Flatten()(h)), name="encoder")
    code = keras.Input(shape=(spec.LATENT_DIM,))
    h = layers.Reshape((7, 7, 64))(layers.Dense(7 * 7 * 64, activation="relu")(code))
    h = layers.Conv2DTranspose(64, 3, strides=2, padding="same", activation="relu")(h)
    h = layers.Conv2DTranspose(32, 3, strides=2, padding="same", activation="relu")(h)
    h = layers.Conv2D(16, 3, padding="same", activation="relu")(h)
    decoder = keras.Model(code, layers.Conv2D(1, 3, padding="same", activation="sigmoid")(h), name="decoder")
    autoencoder = keras.Sequential([encoder, decoder])
    autoencoder.compile(optimizer="adam", loss="binary_crossentropy")
    return downstream(train(ns, encoder, autoencoder, epochs=10))


CORRECT = {
    "another architecture, seed and more epochs": lambda: correct_namespace(seed=1, filters=(16, 48), epochs=12),
    "extra layers": extra_layers_namespace,
}
_CORPUS: dict = {}


def corpus(name, reference):
    """A namespace of the corpus (each made once per module): the reference, a wrong answer, a correct variant."""
    if name not in _CORPUS:
        _CORPUS[name] = (reference if name == "reference" else CORRECT[name]() if name in CORRECT
                         else WRONG_ANSWERS[name][0](reference))
    return _CORPUS[name]


@pytest.mark.parametrize("name", list(CORRECT))
def test_another_architecture_seed_training_length_and_extra_layers_pass(reference, name):
    failed, results = failing(corpus(name, reference))
    assert failed == set(), results


# --------------------------------------------------------------------------- equivalence with the grader
@pytest.fixture(scope="module")
def hidden():
    from aecourse.assignments.denoising_dimension_reduction import grading

    return grading.make_hidden(np.random.default_rng(2026), smoke=True)


def _split(evidence_dict):
    found = {k: v for k, v in evidence_dict.items() if not k.startswith("error:")}
    errors = {k[len("error:"):]: str(v) for k, v in evidence_dict.items() if k.startswith("error:")}
    return found, errors


def grader_awards(ns, hidden, folder) -> dict:
    """The grader's three steps on a namespace, in this process: {part: awarded}."""
    from aecourse.assignments import collect, passed
    from aecourse.assignments.denoising_dimension_reduction import grading
    from aecourse.grade import inkernel, modeleval
    from aecourse.grade.spec import with_model_evidence

    folder.mkdir(parents=True, exist_ok=True)
    answers = {p: collect(grading.EXPORTS[p], ns, grading.sandbox_inputs(hidden)) for p in PARTS}
    answers["model"].update(inkernel.save_models(grading, "model", ns, str(folder)))   # step 1
    np.savez(folder / modeleval.INPUTS, **grading.model_inputs(hidden))
    model_found, model_errors = _split(modeleval.evaluate(grading, str(folder)))          # step 2
    awards = {}
    for p in PARTS:                                                                        # step 3
        found, errors = _split(answers[p])
        if p in grading.MODEL_PARTS:
            found, errors = with_model_evidence(found, errors, model_found, model_errors, grading.MODEL_EVIDENCE)
        awards[p] = passed(grading.score(p, found, errors, hidden))
    return awards


@pytest.mark.parametrize("name", ["reference", *WRONG_ANSWERS, *CORRECT])
def test_checks_pass_exactly_when_the_grader_awards_the_part(reference, hidden, tmp_path, name):
    ns = corpus(name, reference)
    visible = {p: checks.part_passes(ns, p, hidden=True) for p in PARTS}
    awarded = grader_awards(ns, hidden, tmp_path / "models")
    assert visible == awarded, {p: (visible[p], awarded[p]) for p in PARTS if visible[p] != awarded[p]}
    if name not in WRONG_ANSWERS:
        assert all(awarded.values()), awarded
    else:
        assert {p for p in PARTS if not awarded[p]} == WRONG_ANSWERS[name][1]


# --------------------------------------------------------------------------- noise task, no training needed
@pytest.fixture(scope="module")
def data_ns():
    return load()


def _noise_ns(data_ns, noise):
    ns = dict(data_ns, add_noise=noise)
    ns["x_train_noisy"] = noise(ns["x_train"], spec.NOISE_FACTOR, spec.NOISE_SEED)
    ns["x_test_noisy"] = noise(ns["x_test"], spec.NOISE_FACTOR, spec.NOISE_SEED + 1)
    return ns


def _message(fn, ns):
    with pytest.raises(checks.CheckError) as info:
        fn(ns)
    assert isinstance(info.value, AssertionError)
    return str(info.value)


def test_correct_noise_passes_visible_and_hidden_checks(data_ns, capsys):
    checks.check_noise(data_ns)
    checks.check_noise_heldout(data_ns)
    assert "passed" in capsys.readouterr().out


def test_missing_name_says_which_answer_cell_to_run(data_ns):
    ns = {k: v for k, v in data_ns.items() if k != "x_test_noisy"}
    msg = _message(checks.check_noise, ns)
    assert "`x_test_noisy` is not defined" in msg and "answer_noise" in msg


def wrong_factor(x, noise_factor, seed):
    return add_noise(x, 1.0, seed)


def hard_coded_factor(x, noise_factor, seed):
    return add_noise(x, spec.NOISE_FACTOR, seed)


def uniform_noise(x, noise_factor, seed):
    rng = np.random.default_rng(seed)
    return np.clip(x + noise_factor * rng.uniform(-1, 1, x.shape), 0, 1).astype("float32")


def in_place(x, noise_factor, seed):
    x += 0.0 * x + noise_factor * np.random.default_rng(seed).standard_normal(x.shape).astype("float32")
    np.clip(x, 0, 1, out=x)
    return x.copy()


_unseeded_rng = np.random.default_rng()


def unseeded(x, noise_factor, seed):
    return np.clip(x + noise_factor * _unseeded_rng.standard_normal(x.shape), 0, 1).astype("float32")


def float64_noise(x, noise_factor, seed):
    return add_noise(x, noise_factor, seed).astype("float64")


@pytest.mark.parametrize("noise, words", [
    (no_noise, "no noise was added"),
    (unclipped_noise, "not clipped"),
    (wrong_factor, "expected amount of noise"),
    (uniform_noise, "expected amount of noise"),
    (unseeded, "not reproducible"),
    (float64_noise, "float32"),
])
def test_wrong_noise_is_caught_with_a_specific_message(data_ns, noise, words):
    msg = _message(checks.check_noise, _noise_ns(data_ns, noise))
    assert words in msg and "expected:" in msg and "found:" in msg, msg


def test_noise_that_changes_its_input_is_caught(data_ns):
    ns = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in data_ns.items()}
    ns["add_noise"] = in_place
    ns["x_train_noisy"] = add_noise(ns["x_train"], spec.NOISE_FACTOR, spec.NOISE_SEED)
    ns["x_test_noisy"] = add_noise(ns["x_test"], spec.NOISE_FACTOR, spec.NOISE_SEED + 1)
    assert "in place" in _message(checks.check_noise, ns)


def test_hard_coded_noise_factor_passes_visible_check_but_not_hidden_one(data_ns):
    ns = _noise_ns(data_ns, hard_coded_factor)
    checks.check_noise(ns)
    assert "expected amount of noise" in _message(checks.check_noise_heldout, ns)


def test_test_images_noised_with_the_training_seed_are_caught(data_ns):
    ns = dict(data_ns, x_test_noisy=add_noise(data_ns["x_test"], spec.NOISE_FACTOR, spec.NOISE_SEED))
    assert "NOISE_SEED + 1" in _message(checks.check_noise, ns)


def test_raw_pixels_are_caught(data_ns):
    ns = dict(data_ns, x_train=data_ns["x_train"] * 255)
    assert "divide by 255" in _message(checks.check_noise, ns)


def test_run_all_reports_unexpected_errors_instead_of_crashing(data_ns):
    class Broken:
        def predict(self, x, verbose=0):
            raise RuntimeError("boom")

    results = checks.run_all(dict(_noise_ns(data_ns, add_noise), encoder=Broken(), autoencoder=Broken()))
    assert results["noise"] is None
    assert "boom" in results["model"]
