"""A small digit classifier in numpy, annotated the way NNI's mnist-annotation example is.

Run as is, it trains with its command-line defaults; expanded by nnifc, the annotated values
come from the tuner. It prints `USED <json>` with what it actually ran with.
"""

import argparse
import json
import logging
from typing import Any

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]
logger = logging.getLogger("mnist_AutoML")
USED: dict[str, Any] = {}


class MnistNetwork:
    """Box filter, activation, pooling and a softmax layer on 8x8 synthetic digits."""

    def __init__(
        self,
        channel_1_num: int,
        conv_size: int,
        hidden_size: int,
        pool_size: int,
        learning_rate: float,
        x_dim: int = 64,
        y_dim: int = 10,
    ) -> None:
        self.channel_1_num = channel_1_num
        """@nni.variable(nni.choice(2, 3, 5, 7),name=self.conv_size)"""
        self.conv_size = conv_size
        """@nni.variable(nni.choice(124, 512, 1024), name=self.hidden_size)"""
        self.hidden_size = hidden_size
        self.pool_size = pool_size
        """@nni.variable(nni.loguniform(0.0001, 0.1), name=self.learning_rate)"""
        self.learning_rate = learning_rate
        self.x_dim = x_dim
        self.y_dim = y_dim
        rng = np.random.default_rng(0)
        side = int(np.sqrt(x_dim)) // pool_size
        self.w_fc1 = rng.normal(0, 0.1, (side * side, hidden_size))
        self.w_fc2 = np.zeros((hidden_size, y_dim))
        USED.update(conv_size=self.conv_size, hidden_size=self.hidden_size)
        USED.update(learning_rate=self.learning_rate)

    def features(self, images: Array) -> Array:
        side = int(np.sqrt(self.x_dim))
        x_image = images.reshape(-1, side, side)
        """@nni.function_choice(relu(conv2d(x_image, self.conv_size)), tanh(conv2d(x_image, self.conv_size)), sigmoid(conv2d(x_image, self.conv_size)), name=relu)"""
        h_conv1 = relu(conv2d(x_image, self.conv_size))
        """@nni.function_choice(max_pool(h_conv1, self.pool_size), avg_pool(h_conv1, self.pool_size), name=max_pool)"""
        h_pool1 = max_pool(h_conv1, self.pool_size)
        return np.tanh(h_pool1.reshape(len(images), -1) @ self.w_fc1)

    def train_step(self, images: Array, labels: Array, keep_prob: float) -> None:
        hidden = self.features(images) * keep_prob
        error = softmax(hidden @ self.w_fc2) - labels
        self.w_fc2 -= self.learning_rate * 100 * hidden.T @ error / len(images)

    def accuracy(self, images: Array, labels: Array) -> float:
        predicted = (self.features(images) @ self.w_fc2).argmax(axis=1)
        return float((predicted == labels.argmax(axis=1)).mean())


def conv2d(x_input: Array, size: int) -> Array:
    """A box filter of `size` with 'SAME' padding."""
    padded = np.pad(x_input, ((0, 0), (size // 2, (size - 1) // 2), (size // 2, (size - 1) // 2)))
    out = np.zeros_like(x_input)
    for i in range(size):
        for j in range(size):
            out += padded[:, i : i + x_input.shape[1], j : j + x_input.shape[2]]
    return out / (size * size)


def relu(x: Array) -> Array:
    USED["activation"] = "relu"
    return np.maximum(x, 0)


def tanh(x: Array) -> Array:
    USED["activation"] = "tanh"
    return np.tanh(x)


def sigmoid(x: Array) -> Array:
    USED["activation"] = "sigmoid"
    return 1 / (1 + np.exp(-x))


def max_pool(x_input: Array, pool_size: int) -> Array:
    USED["pool"] = "max"
    pooled: Array = _blocks(x_input, pool_size).max(axis=(2, 4))
    return pooled


def avg_pool(x_input: Array, pool_size: int) -> Array:
    USED["pool"] = "avg"
    pooled: Array = _blocks(x_input, pool_size).mean(axis=(2, 4))
    return pooled


def _blocks(x_input: Array, size: int) -> Array:
    n, h, w = x_input.shape
    return x_input[:, : h // size * size, : w // size * size].reshape(
        n, h // size, size, w // size, size
    )


def softmax(logits: Array) -> Array:
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    probabilities: Array = exp / exp.sum(axis=1, keepdims=True)
    return probabilities


def synthetic_digits(count: int, seed: int) -> tuple[Array, Array]:
    """Noisy copies of ten fixed 8x8 prototypes, with one-hot labels."""
    prototypes = np.random.default_rng(42).random((10, 64))
    rng = np.random.default_rng(seed)
    classes = rng.integers(0, 10, count)
    images = prototypes[classes] + rng.normal(0, 0.3, (count, 64))
    return images, np.eye(10)[classes]


def main(params: dict[str, Any]) -> None:
    """Train, report the test accuracy every 10 batches and at the end."""
    train_images, train_labels = synthetic_digits(2000, seed=1)
    test_images, test_labels = synthetic_digits(500, seed=2)
    mnist_network = MnistNetwork(
        channel_1_num=params["channel_1_num"],
        conv_size=params["conv_size"],
        hidden_size=params["hidden_size"],
        pool_size=params["pool_size"],
        learning_rate=params["learning_rate"],
    )
    test_acc = 0.0
    """@nni.variable(nni.choice(16, 32), name=batch_size)"""
    batch_size = params["batch_size"]
    for i in range(params["batch_num"]):
        start = i * batch_size % len(train_images)
        batch = slice(start, start + batch_size)
        """@nni.variable(nni.choice(0.5, 0.9), name=dropout_rate)"""
        dropout_rate = params["dropout_rate"]
        mnist_network.train_step(train_images[batch], train_labels[batch], 1 - dropout_rate)
        if i % 10 == 0:
            test_acc = mnist_network.accuracy(test_images, test_labels)
            """@nni.report_intermediate_result(test_acc)"""
            logger.debug("test accuracy %g", test_acc)
    test_acc = mnist_network.accuracy(test_images, test_labels)
    USED.update(batch_size=batch_size, dropout_rate=dropout_rate, final=test_acc)
    print("USED " + json.dumps(USED), flush=True)
    """@nni.report_final_result(test_acc)"""
    logger.debug("Final result is %g", test_acc)


def get_params() -> dict[str, Any]:
    """Defaults for running without NNI."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--dropout_rate", type=float, default=0.5)
    parser.add_argument("--channel_1_num", type=int, default=32)
    parser.add_argument("--conv_size", type=int, default=5)
    parser.add_argument("--pool_size", type=int, default=2)
    parser.add_argument("--hidden_size", type=int, default=128)
    parser.add_argument("--learning_rate", type=float, default=1e-2)
    parser.add_argument("--batch_num", type=int, default=50)
    parser.add_argument("--batch_size", type=int, default=32)
    args, _ = parser.parse_known_args()
    return vars(args)


if __name__ == "__main__":
    """@nni.get_next_parameter()"""
    main(get_params())
