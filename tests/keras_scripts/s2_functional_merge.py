"""The functional API: a residual Add, two branches joined by Concatenate, one-hot labels."""

import keras
from keras import layers

from tests.keras_scripts.data import load_data

(x_train, y_train), (x_test, y_test) = load_data()
x_train = x_train.reshape(-1, 12, 12, 1).astype("float32") / 255
x_test = x_test.reshape(-1, 12, 12, 1).astype("float32") / 255
y_train = keras.utils.to_categorical(y_train, 4)
y_test = keras.utils.to_categorical(y_test, 4)

inputs = keras.Input(shape=(12, 12, 1), name="image")
x = layers.Conv2D(8, 3, padding="same", activation="relu")(inputs)
y = layers.Conv2D(8, 3, padding="same", activation="relu")(x)
z = layers.Add()([x, y])
a = layers.Flatten()(layers.MaxPooling2D(2)(z))
b = layers.GlobalAveragePooling2D()(z)
features = layers.Concatenate()([a, b])
outputs = layers.Dense(4, activation="softmax")(features)
model = keras.Model(inputs=inputs, outputs=outputs, name="residual_net")
model.summary(line_length=100)

model.compile(
    optimizer=keras.optimizers.Adam(learning_rate=0.003),
    loss="categorical_crossentropy",
    metrics=["accuracy"],
)
model.fit(x_train, y_train, batch_size=32, epochs=6, validation_data=(x_test, y_test), verbose=0)
test_loss, test_acc = model.evaluate(x_test, y_test, verbose=0)
print("test accuracy", test_acc)
