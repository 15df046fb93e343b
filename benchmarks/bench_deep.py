"""The deep 784-1000-500-250-30 autoencoder against Hinton & Salakhutdinov (2006).

Same recipe as chapter 3's notebook: no layer-wise pretraining; batch normalisation and ELU
after each hidden layer (Dense layers without bias: BatchNormalization supplies the shift), a
linear 30-unit code, a sigmoid output, binary cross-entropy, Adam with a learning rate decaying
along a cosine from 3e-3 to zero over all updates, batch 256, 16 steps per execution.

How the recipe is judged without the test set: the last 5,000 training images are held out as
a validation split and the models train on the other 55,000. Every ``CHECK_EVERY`` epochs the
validation error is measured, so the output shows whether more epochs still help (the curve
still falls) or the model has started to overfit (it turns up). The test set is scored once,
at the end. Three seeds; the goal is on their median, with the spread reported beside it.

Reported: squared error per image (sum over 784 pixels, pixels in [0, 1]) and training wall
time, beside the paper's 3.00 (autoencoder), 8.01 (logistic PCA) and 13.87 (PCA), and PCA-30
recomputed here.

    .venv/bin/python -m benchmarks.bench_deep --seeds 0 --epochs 40   # one exploratory run
"""

from __future__ import annotations

import argparse

import numpy as np

from benchmarks.common import log, target, timer

PAPER = {"autoencoder": 3.00, "logistic PCA": 8.01, "PCA": 13.87}
SEEDS = (0, 1, 2)
EPOCHS, BATCH, LEARNING_RATE = 40, 256, 3e-3
N_VAL = 5000
CHECK_EVERY = 5
GOAL_TRAIN_SECONDS = 600


def build_deep_autoencoder():
    import keras
    from keras import layers

    def block(x, units):
        x = layers.Dense(units, use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        return layers.Activation("elu")(x)

    inputs = keras.Input((784,))
    x = inputs
    for units in (1000, 500, 250):
        x = block(x, units)
    x = layers.Dense(30, name="code")(x)
    for units in (250, 500, 1000):
        x = block(x, units)
    return keras.Model(inputs, layers.Dense(784, activation="sigmoid")(x))


def sse_per_image(model, x) -> float:
    x_hat = model.predict(x, verbose=0, batch_size=1000)
    return float(np.mean(np.sum((x_hat - x) ** 2, axis=1)))


def train_one(seed: int, x_fit, x_val, epochs: int, batch: int, learning_rate: float) -> tuple:
    """Train one seed; return the model, its validation curve {epoch: sse} and the training seconds."""
    import keras

    from aecourse import config

    config.set_seed(seed)
    model = build_deep_autoencoder()
    schedule = keras.optimizers.schedules.CosineDecay(
        learning_rate, decay_steps=epochs * int(np.ceil(len(x_fit) / batch)))
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss="binary_crossentropy", steps_per_execution=16)
    curve: dict[int, float] = {}

    class Checkpoints(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if (epoch + 1) % CHECK_EVERY == 0 or epoch + 1 == epochs:
                curve[epoch + 1] = sse_per_image(self.model, x_val)
                log(f"    seed {seed}, epoch {epoch + 1}: validation {curve[epoch + 1]:.3f}")

    x_fit_tensor = keras.ops.convert_to_tensor(x_fit)
    with timer() as t:
        model.fit(x_fit_tensor, x_fit_tensor, epochs=epochs, batch_size=batch, shuffle=True, verbose=0,
                  callbacks=[Checkpoints()])
    return model, curve, t()


def run(smoke: bool = False, seeds=SEEDS, epochs: int | None = None) -> dict:
    import keras
    from sklearn.decomposition import PCA

    from aecourse import config, data

    config.quiet_tensorflow()
    (x_train, _), (x_test, _) = data.load_mnist(dtype="float32", layout="flat",
                                                n_train=2000 if smoke else None, n_test=500 if smoke else None)
    n_val = 200 if smoke else N_VAL
    x_fit, x_val = x_train[:-n_val], x_train[-n_val:]
    pca = PCA(n_components=30, random_state=0).fit(x_train)
    pca_sse = float(np.mean(np.sum((pca.inverse_transform(pca.transform(x_test)) - x_test) ** 2, axis=1)))
    epochs = epochs or (1 if smoke else EPOCHS)
    seeds = tuple(seeds[:1]) if smoke else tuple(seeds)
    rows = []
    for seed in seeds:
        log(f"  training the deep autoencoder, seed {seed}, {epochs} epochs of batch {BATCH}")
        model, curve, seconds = train_one(seed, x_fit, x_val, epochs, BATCH, LEARNING_RATE)
        test = sse_per_image(model, x_test)
        log(f"  seed {seed}: {test:.3f} per test image after {seconds:.0f} s of training")
        row = {"seed": seed, "epochs": epochs, "train_seconds": seconds}
        row.update({f"val_sse_epoch_{e}": v for e, v in curve.items()})
        row["test_sse"] = test
        rows.append(row)
        del model
        keras.backend.clear_session()
    tests = np.array([r["test_sse"] for r in rows])
    median = float(np.median(tests))
    slowest = max(r["train_seconds"] for r in rows)
    last_two = [e for e in sorted(rows[0]) if e.startswith("val_sse_epoch_")][-2:]
    still_falling = all(r[last_two[-1]] < r[last_two[0]] for r in rows) if len(last_two) == 2 else None
    return {
        "title": "Deep 30-d autoencoder against Hinton & Salakhutdinov (2006)",
        "rows": rows,
        "recipe": (f"784-1000-500-250-30, Dense without bias + BatchNorm + ELU, linear code, sigmoid output, "
                   f"binary cross-entropy, Adam {LEARNING_RATE:g} cosine-decayed to 0, batch {BATCH}, {epochs} "
                   f"epochs on {len(x_fit):,} training images; {len(x_val):,} held out for validation"),
        "how": ("training seconds include the validation checks every "
                f"{CHECK_EVERY} epochs; the test set is scored once per seed, after training"),
        "paper_sse": PAPER,
        "pca30_sse_this_run": pca_sse,
        "pca30_reproduced_within_1pct": bool(abs(pca_sse - PAPER["PCA"]) / PAPER["PCA"] < 0.01),
        "test_sse_median": median,
        "test_sse_min": float(tests.min()),
        "test_sse_max": float(tests.max()),
        "validation_still_falling_at_the_end": still_falling,
        "targets": [
            target(f"deep AE squared error per test image, median of {len(rows)} seed(s) (paper: 3.00 "
                   "with RBM pretraining)", median, PAPER["autoencoder"]),
            target("deep AE training time, slowest seed", slowest, GOAL_TRAIN_SECONDS, unit="s"),
        ],
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="one exploratory run of the deep-autoencoder benchmark "
                                                 "(results are printed, not saved)")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    args = parser.parse_args()
    import json
    import os

    result = run(smoke=os.environ.get("AECOURSE_SMOKE") == "1", seeds=tuple(args.seeds), epochs=args.epochs)
    print(json.dumps(result, indent=1, default=float))
