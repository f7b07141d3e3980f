"""ModelCheckpoint(save_freq=5 batches), a custom callback on on_batch_end, load_weights in a new model."""

import os
import tempfile

import keras
from keras import layers

from tests.keras_scripts.data import load_data

(x_train, y_train), (x_test, y_test) = load_data()
x_train = x_train.reshape(-1, 12, 12, 1).astype("float32") / 255
x_test = x_test.reshape(-1, 12, 12, 1).astype("float32") / 255


def create_model():
    model = keras.Sequential(
        [
            keras.Input(shape=(12, 12, 1)),
            layers.Conv2D(16, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Flatten(),
            layers.Dense(4, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


class LossHistory(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.losses = []

    def on_batch_end(self, batch, logs=None):
        self.losses.append(logs.get("loss"))


checkpoint_dir = tempfile.mkdtemp()
checkpoint_path = os.path.join(checkpoint_dir, "cp.weights.h5")
cp_callback = keras.callbacks.ModelCheckpoint(
    filepath=checkpoint_path, save_weights_only=True, save_freq=5
)
loss_history = LossHistory()

model = create_model()
model.fit(
    x_train, y_train, batch_size=32, epochs=8, callbacks=[cp_callback, loss_history], verbose=0
)
batch_losses = loss_history.losses
assert len(batch_losses) == 8 * 15, len(batch_losses)

new_model = create_model()
new_model.load_weights(checkpoint_path)  # written after batch 120, the last one
test_loss, test_acc = new_model.evaluate(x_test, y_test, verbose=0)
trained_loss, trained_acc = model.evaluate(x_test, y_test, verbose=0)
assert abs(test_acc - trained_acc) < 1e-6
print("batch losses", len(batch_losses), "restored test accuracy", test_acc)
