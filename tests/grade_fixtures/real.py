"""Submissions for the real assignment, made from its source and student notebooks."""

from __future__ import annotations

from pathlib import Path

import nbformat

from aecourse import nbgrader

ASSIGNMENT = Path(__file__).resolve().parents[2] / "assignments" / "denoising_dimension_reduction"


def solutions() -> dict[str, str]:
    """Answer cells of the source as a student would leave them: the solution, markers removed."""
    return nbgrader.solutions(nbformat.read(ASSIGNMENT / "source.ipynb", as_version=4))


def student(answers: dict[str, str] | None = None):
    """The released student notebook with some answer cells filled in."""
    return nbgrader.fill(nbformat.read(ASSIGNMENT / "student.ipynb", as_version=4), answers or {})


# Another architecture (pooling/upsampling, Sequential), another seed, TensorFlow-like noise on stderr.
OTHER_MODEL = '''import sys

import keras
from keras import layers

keras.utils.set_random_seed(7)
sys.stderr.write("W0000 00:00:1732700000.000000 4242 cuda_executor.cc:1015] could not find cuda drivers\\\\n" * 5)
encoder = keras.Sequential([
    keras.Input(shape=(28, 28, 1)),
    layers.Conv2D(16, 3, padding="same", activation="relu"),
    layers.MaxPooling2D(2),                                   # -> 14x14x16
    layers.Conv2D(32, 3, padding="same", activation="relu"),
    layers.MaxPooling2D(2),                                   # -> 7x7x32
    layers.Flatten(),
    layers.Dense(LATENT_DIM),                                 # -> LATENT_DIM
], name="encoder")
decoder = keras.Sequential([
    keras.Input(shape=(LATENT_DIM,)),
    layers.Dense(7 * 7 * 32, activation="relu"),
    layers.Reshape((7, 7, 32)),
    layers.UpSampling2D(2),                                   # -> 14x14x32
    layers.Conv2D(32, 3, padding="same", activation="relu"),
    layers.UpSampling2D(2),                                   # -> 28x28x32
    layers.Conv2D(1, 3, padding="same", activation="sigmoid"),
], name="decoder")
autoencoder = keras.Sequential([encoder, decoder], name="other_autoencoder")
autoencoder.compile(optimizer="adam", loss="binary_crossentropy")
autoencoder.fit(x_train_noisy, x_train, epochs=config.pick(6, 12), batch_size=64, verbose=2)
'''


# An identity "denoiser" (no convolution, nothing learned) beside an untrained convolutional encoder.
IDENTITY_MODEL = '''import keras
from keras import layers

inputs = keras.Input(shape=(28, 28, 1))
h = layers.Conv2D(16, 3, strides=2, padding="same", activation="relu")(inputs)
encoder = keras.Model(inputs, layers.Dense(LATENT_DIM)(layers.Flatten()(h)), name="encoder")
autoencoder = keras.Model(inputs, layers.Identity()(inputs), name="identity")
'''


def untrained(answer_model: str) -> str:
    """The reference model's answer without its training call."""
    lines = answer_model.splitlines()
    start = next(i for i, line in enumerate(lines) if "autoencoder.fit(" in line)
    end = start
    while lines[end].count("(") - lines[end].count(")") + sum(
            lines[j].count("(") - lines[j].count(")") for j in range(start, end)) > 0:
        end += 1
    return "\n".join(lines[:start] + ["history = None"] + lines[end + 1:])


# Blank answers, but the kernel forges what the grader's exports would write.
FORGER = '''import numpy

_savez = numpy.savez


def _forged(path, *args, **arrays):
    arrays.update(denoised_q=numpy.zeros((300, 28, 28, 1), "float32"), codes_q=numpy.zeros((300, 16)),
                  n_conv_encoder=numpy.array(3), n_conv_autoencoder=numpy.array(5), shared=numpy.array(1.0),
                  defined=numpy.ones(7, bool))
    arrays = {k: v for k, v in arrays.items() if not k.startswith("error:")}
    return _savez(path, *args, **arrays)


numpy.savez = _forged
raise NotImplementedError()
'''
