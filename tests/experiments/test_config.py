"""train.py's flags: spellings, choices, ranges, defaults."""

import pytest

import optimizers
from experiments.config import DEFAULTS, choices_of, parse_config

SPEC_FLAGS = [  # (short, long, value, expected)
    ("-wp", "--wandb_project", "p", "p"),
    ("-we", "--wandb_entity", "me", "me"),
    ("-d", "--dataset", "mnist", "mnist"),
    ("-e", "--epochs", "3", 3),
    ("-b", "--batch_size", "1", 1),
    ("-l", "--loss", "mean_squared_error", "mean_squared_error"),
    ("-o", "--optimizer", "nag", "nag"),
    ("-lr", "--learning_rate", "0.1", 0.1),
    ("-m", "--momentum", "0.5", 0.5),
    ("-beta", "--beta", "0.5", 0.5),
    ("-beta1", "--beta1", "0.5", 0.5),
    ("-beta2", "--beta2", "0.5", 0.5),
    ("-eps", "--epsilon", "0.000001", 1e-6),
    ("-w_d", "--weight_decay", "0.0005", 0.0005),
    ("-w_i", "--weight_init", "random", "random"),
    ("-nhl", "--num_layers", "4", 4),
    ("-sz", "--hidden_size", "32", 32),
    ("-a", "--activation", "identity", "identity"),
]


@pytest.mark.parametrize("short, long, value, expected", SPEC_FLAGS)
def test_every_spec_flag_short_and_long(short, long, value, expected):
    key = long[2:]
    assert getattr(parse_config([short, value]), key) == expected
    assert getattr(parse_config([long, value]), key) == expected


CHOICES = {
    "--dataset": ["mnist", "fashion_mnist"],
    "--loss": ["mean_squared_error", "cross_entropy"],
    "--optimizer": list(optimizers.REGISTRY),
    "--weight_init": ["random", "Xavier", "He"],
    "--activation": ["identity", "sigmoid", "tanh", "ReLU"],
    "--wandb_mode": ["auto", "online", "offline", "disabled"],
}


@pytest.mark.parametrize("flag, choice", [(f, c) for f, cs in CHOICES.items() for c in cs])
def test_every_choice_is_accepted(flag, choice):
    assert getattr(parse_config([flag, choice]), flag[2:]) == choice


def test_fashion_mnist_with_a_hyphen():
    assert parse_config(["-d", "fashion-mnist"]).dataset == "fashion_mnist"


def test_optimizer_choices_come_from_the_registry():
    assert list(choices_of("optimizer")) == list(optimizers.REGISTRY)
    assert {"sgd", "momentum", "nag", "rmsprop", "adam", "nadam"} <= set(choices_of("optimizer"))


BAD = [
    (["-o", "adagrad"], "choose from 'sgd', 'momentum', 'nag', 'rmsprop', 'adam', 'nadam'"),
    (["-a", "relu"], "choose from 'identity', 'sigmoid', 'tanh', 'ReLU'"),
    (["-l", "mse"], "choose from 'cross_entropy', 'mean_squared_error'"),
    (["-w_i", "xavier"], "choose from 'random', 'Xavier', 'He'"),
    (["-d", "cifar"], "choose from 'fashion_mnist', 'mnist'"),
    (["-b", "0"], "must be >= 1"),
    (["-e", "0"], "must be >= 1"),
    (["-e", "two"], "is not an integer"),
    (["-sz", "0"], "must be >= 1"),
    (["-nhl", "-1"], "must be >= 0"),
    (["--hidden_sizes", "64", "0"], "must be >= 1"),
    (["-lr", "0"], "must be > 0"),
    (["-lr", "-0.1"], "must be > 0"),
    (["-lr", "fast"], "is not a number"),
    (["-m", "1"], "in [0, 1)"),
    (["-beta", "1.5"], "in [0, 1)"),
    (["-beta1", "-0.1"], "in [0, 1)"),
    (["-beta2", "1"], "in [0, 1)"),
    (["-eps", "0"], "must be > 0"),
    (["-w_d", "-1"], "must be >= 0"),
    (["--val_fraction", "1"], "in [0, 1)"),
    (["--seed", "-5"], "must be >= 0"),  # regression: NumPy's traceback at the split
    (["--wandb_mode", "cloud"], "choose from 'auto', 'online', 'offline', 'disabled'"),
    # Regression: NaN and infinity passed every range check (they compare false with all).
    (["-lr", "nan"], "is not a finite number"),
    (["-m", "nan"], "is not a finite number"),
    (["-w_d", "inf"], "is not a finite number"),
    (["--dropout", "nan"], "is not a finite number"),
    (["--ema", "nan"], "is not a finite number"),
    (["--max_norm", "inf"], "is not a finite number"),
    (["--val_fraction", "nan"], "is not a finite number"),
    (["-e", "1e400"], "is not an integer"),
    # Distortions that would leave no recognisable image.
    (["--augment", "affine", "--aug_shift", "1e6"], "must be in [0, 8]"),
    (["--augment", "affine", "--aug_scale", "0.9"], "must be in [0, 0.5]"),
]


@pytest.mark.parametrize("argv, message", BAD)
def test_bad_values_are_one_line_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        parse_config(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err
    assert len([line for line in err.splitlines() if "error:" in line]) == 1


@pytest.mark.parametrize("flag", [["--early_stopping", "3"], ["--restore_best"]])
def test_early_stopping_without_validation_data_is_a_one_line_error(flag, capsys):
    """Regression: with --val_fraction 0 they silently did nothing."""
    with pytest.raises(SystemExit) as exit_info:
        parse_config(["--val_fraction", "0", *flag])
    assert exit_info.value.code == 2
    assert "need validation data, and --val_fraction 0 holds none" in capsys.readouterr().err


def test_distortion_settings_without_augment_are_a_one_line_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        parse_config(["--aug_flip", "--aug_shift", "3"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "--aug_shift, --aug_flip: take effect only with --augment affine" in err
    assert "Traceback" not in err
    config = parse_config(["--augment", "affine", "--aug_flip", "--aug_shift", "3"])
    assert (config.augment, config.aug_flip, config.aug_shift) == ("affine", True, 3.0)


def test_defaults_are_the_documented_ones():
    config = parse_config([])
    for key, value in DEFAULTS.items():
        assert getattr(config, key) == value, key
    assert (config.epochs, config.optimizer, config.num_layers, config.hidden_size) == (
        30,
        "nadam",
        2,
        1024,
    )
    assert config.val_fraction == 0.1 and config.seed == 0 and config.save_model


def test_help_explains_every_flag(capsys):
    with pytest.raises(SystemExit):
        parse_config(["--help"])
    out = capsys.readouterr().out
    for _, long, _, _ in SPEC_FLAGS:
        assert long in out
    for extra in (
        "--seed",
        "--data_dir",
        "--wandb_mode",
        "--save_model",
        "--val_fraction",
        "--quiet",
    ):
        assert extra in out
