"""Training efficiency: the reader's eager loop against the course's dense autoencoder.

The reader's model is the classic 784-128-64 sigmoid autoencoder exactly as it is usually
copied: RandomNormal initialisation, Adam 0.01, batch 256, a GradientTape loop run eagerly
(no ``tf.function``). Running it eagerly for 20,000 steps takes most of a quarter hour here,
so we (a) time the eager loop for ``EAGER_STEPS`` steps and extrapolate to 20,000, and
(b) run the *same* loop compiled with ``tf.function`` for 20,000 steps to learn the test MSE
it reaches (same maths, same seed). The course's dense autoencoder (784-256-64-256-784,
ReLU, binary cross-entropy, Adam 1e-3, batch 64, 16 steps per execution) then trains until
its test MSE is at or below that number, checked four times per epoch with the clock stopped
(only training time counts). Both are timed in this same run; the ratio is the result.
"""

from __future__ import annotations

import time

import numpy as np

from benchmarks.common import log, target, timer

READER_STEPS = 20_000
EAGER_STEPS = 1_000
CHECKS_PER_EPOCH = 4
GOAL_RATIO = 25


def reader_loop(x_train, x_test, steps: int, compiled: bool, seed: int = 0):
    import tensorflow as tf

    from aecourse import config

    config.set_seed(seed)
    init = tf.random_normal_initializer()
    sizes = [784, 128, 64, 128, 784]
    weights = [tf.Variable(init((a, b))) for a, b in zip(sizes[:-1], sizes[1:])]
    biases = [tf.Variable(init((b,))) for b in sizes[1:]]
    variables = weights + biases
    import keras

    opt = keras.optimizers.Adam(0.01)

    def forward(x):
        for w, b in zip(weights, biases):
            x = tf.nn.sigmoid(tf.matmul(x, w) + b)
        return x

    def step(x):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(forward(x) - x))
        opt.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    if compiled:
        step = tf.function(step)
    rng = np.random.default_rng(seed)
    batch = 256
    x_train = tf.constant(x_train)
    n = int(x_train.shape[0])
    step(x_train[:batch])  # build/trace outside the timing
    with timer() as t:
        for _ in range(steps):
            idx = rng.integers(0, n, batch)
            step(tf.gather(x_train, idx))
    seconds = t()
    x_hat = forward(tf.constant(x_test)).numpy()
    return seconds, float(np.mean((x_hat - x_test) ** 2))


def course_dense(x_train, x_test, target_mse: float, max_epochs: int, seed: int = 0):
    import keras
    from keras import layers

    from aecourse import config

    config.set_seed(seed)
    inputs = keras.Input((784,))
    h = layers.Dense(256, activation="relu")(inputs)
    z = layers.Dense(64)(h)
    h = layers.Dense(256, activation="relu")(z)
    x_hat = layers.Dense(784, activation="sigmoid")(h)
    autoencoder = keras.Model(inputs, x_hat)
    # as in notebook 03: 16 batches per call into the compiled graph, one tensor as input and target
    autoencoder.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy", steps_per_execution=16)
    x_train_tensor = keras.ops.convert_to_tensor(x_train)
    steps_per_epoch = int(np.ceil(len(x_train) / 64))
    check_every = max(16, steps_per_epoch // CHECKS_PER_EPOCH // 16 * 16)  # a multiple of steps_per_execution

    class UntilReached(keras.callbacks.Callback):
        """Score the test set every ``check_every`` steps, with the clock stopped; stop once the target is reached."""

        def __init__(self):
            super().__init__()
            self.clock, self.training_seconds, self.mse, self.steps, self.epoch = 0.0, 0.0, float("nan"), 0, 0
            self.checked_at = 0

        def on_train_begin(self, logs=None):
            self.clock = time.perf_counter()

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            # with steps_per_execution=16 this is called every 16 steps, with the last step's index
            self.steps = self.epoch * steps_per_epoch + batch + 1
            if self.steps - self.checked_at < check_every:
                return
            self.checked_at = self.steps
            self.training_seconds += time.perf_counter() - self.clock
            self.mse = float(np.mean((self.model.predict(x_test, verbose=0, batch_size=1000) - x_test) ** 2))
            if self.mse <= target_mse:
                self.model.stop_training = True
            self.clock = time.perf_counter()

        def on_train_end(self, logs=None):
            if not self.model.stop_training:
                self.training_seconds += time.perf_counter() - self.clock

    until = UntilReached()
    autoencoder.fit(x_train_tensor, x_train_tensor, epochs=max_epochs, batch_size=64, verbose=0, shuffle=True,
                    callbacks=[until])
    log(f"  course dense AE: test MSE {until.mse:.5f} after {until.steps} steps ({until.training_seconds:.1f} s of training)")
    if until.mse > target_mse:  # the last check may fall short of the end of training: score the final weights
        until.mse = float(np.mean((autoencoder.predict(x_test, verbose=0, batch_size=1000) - x_test) ** 2))
    return until.training_seconds, until.mse, until.steps


def run(smoke: bool = False) -> dict:
    from aecourse import config, data

    config.quiet_tensorflow()
    n_train = 2000 if smoke else None
    (x_train, _), (x_test, _) = data.load_mnist(dtype="float32", layout="flat", n_train=n_train,
                                                n_test=500 if smoke else None)
    reader_steps = 200 if smoke else READER_STEPS
    eager_steps = 50 if smoke else EAGER_STEPS
    log(f"reader loop, eager, {eager_steps} steps (timed, extrapolated to {reader_steps})")
    eager_s, _ = reader_loop(x_train, x_test, eager_steps, compiled=False)
    log(f"reader loop, tf.function, {reader_steps} steps (for the test MSE it reaches)")
    compiled_s, reader_mse = reader_loop(x_train, x_test, reader_steps, compiled=True)
    eager_total = eager_s / eager_steps * reader_steps
    log(f"course dense AE until test MSE <= {reader_mse:.5f}")
    course_s, course_mse, course_steps = course_dense(x_train, x_test, reader_mse, max_epochs=3 if smoke else 30)
    ratio = eager_total / course_s
    rows = [
        {"model": "reader's loop, eager (as copied)", "steps": reader_steps,
         "s_per_1000_steps": eager_s / eager_steps * 1000, "train_seconds": eager_total,
         "test_mse": reader_mse, "how": f"timed {eager_steps} steps, extrapolated"},
        {"model": "reader's loop, tf.function", "steps": reader_steps,
         "s_per_1000_steps": compiled_s / reader_steps * 1000, "train_seconds": compiled_s,
         "test_mse": reader_mse, "how": "run in full"},
        {"model": "course dense AE (784-256-64-256-784, BCE)", "steps": course_steps,
         "s_per_1000_steps": course_s / course_steps * 1000,
         "train_seconds": course_s, "test_mse": course_mse,
         "how": f"run in full; test MSE checked {CHECKS_PER_EPOCH} times per epoch with the clock stopped"},
    ]
    reached = course_mse <= reader_mse
    return {
        "title": "Training efficiency: time to the reader's test MSE",
        "rows": rows,
        "ratio_eager_over_course": ratio,
        "ratio_eager_over_compiled": eager_s / eager_steps / (compiled_s / reader_steps),
        "course_reached_the_reader_mse": reached,
        "targets": [target("course dense AE reaches the reader's 20,000-step test MSE, times less wall time than "
                           "the reader's eager loop" + ("" if reached else " (it did NOT reach that MSE)"),
                           ratio if reached else 0.0, GOAL_RATIO, better="higher", unit="x")],
    }
