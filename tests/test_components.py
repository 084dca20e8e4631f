"""Nested components: networks, priors and likelihoods chosen by type with their own options."""

from __future__ import annotations

import pytest
import torch
import yaml

import genzoo
from genzoo.config import Spec, merge, options_of, parse_overrides, resolve
from genzoo.errors import GenzooError
from genzoo.registry import MODELS, NETS

from helpers import mixture_2d, one_thread, tiny_images  # noqa: F401

VAE = MODELS.get("vae")


def _vae(given: dict, info=None) -> dict:
    return resolve(VAE, given, "model", skip=1, info=info)


def test_yaml_overrides_and_python_say_the_same_thing() -> None:
    info = tiny_images().info
    from_yaml = _vae(yaml.safe_load("encoder: {type: conv, width: 8}\nprior: vamp"), info)
    from_cli = _vae(parse_overrides(["model.encoder.type=conv", "model.encoder.width=8", "model.prior=vamp"])["model"], info)
    from_py = _vae({"encoder": {"type": "conv", "width": 8}, "prior": Spec("vamp", {}, from_yaml["prior"].registry)}, info)
    for r in (from_yaml, from_cli, from_py):
        assert r["encoder"].to_dict() == {"type": "conv", "width": 8, "batch_norm": True}
        assert r["prior"].to_dict() == {"type": "vamp", "n_pseudo": 500}
        assert r["decoder"].to_dict() == {"type": "conv", "width": 8, "batch_norm": True}  # mirrors the encoder
    # a name in a file and options on the command line merge into one component
    assert merge({"prior": "mog"}, {"prior": {"n_components": 5}}) == {"prior": {"type": "mog", "n_components": 5}}
    assert _vae(merge({"prior": "mog"}, {"prior": {"n_components": 5}}))["prior"].options == {"n_components": 5}


def test_auto_types_follow_the_data_and_roles_keep_their_presets() -> None:
    img, pts = tiny_images().info, mixture_2d().info
    assert _vae({}, img)["encoder"].to_dict() == {"type": "conv", "width": 32, "batch_norm": True}  # the AE family's width
    assert _vae({}, pts)["encoder"].type == "mlp"
    assert _vae({"encoder": "mlp"}, img)["encoder"].options["hidden"] == (512,)
    assert _vae({}, img)["likelihood"].type == "bernoulli" and _vae({}, pts)["likelihood"].type == "gaussian"
    assert _vae({"likelihood": "gaussian"}, img)["likelihood"].options["sigma"] == 0.1  # images start narrow
    assert _vae({"likelihood": "gaussian"}, pts)["likelihood"].options["sigma"] == 1.0


def test_decoder_mirrors_the_encoder_unless_it_names_a_type() -> None:
    pts = mixture_2d().info
    r = _vae({"encoder": {"hidden": [64, 8], "act": "tanh"}}, pts)
    assert r["decoder"].to_dict() == {"type": "mlp", "hidden": (8, 64), "act": "tanh", "batch_norm": False, "dropout": 0.0}
    r = _vae({"encoder": {"hidden": [64, 8]}, "decoder": {"dropout": 0.1}}, pts)  # options on top of the mirror
    assert r["decoder"].options["hidden"] == (8, 64) and r["decoder"].options["dropout"] == 0.1
    r = _vae({"encoder": {"hidden": [64, 8]}, "decoder": {"type": "mlp"}}, pts)  # its own type: its own defaults
    assert r["decoder"].options["hidden"] == (512,)
    m = genzoo.build("vae", pts, latent_dim=3, encoder={"hidden": [16, 4]})
    assert [l.out_features for l in m.encoder if isinstance(l, torch.nn.Linear)] == [16, 4, 6]
    assert [l.out_features for l in m.decoder if isinstance(l, torch.nn.Linear)] == [4, 16, 2]


def test_errors_name_the_dotted_path_and_the_choices() -> None:
    img = tiny_images().info
    with pytest.raises(GenzooError, match=r"unknown option model.encoder.widht of network 'conv' \(auto picked conv for this "
                                          r"data\); valid options of model.encoder are: type, batch_norm, width"):
        _vae({"encoder": {"widht": 3}}, img)
    with pytest.raises(GenzooError, match=r"model.encoder.type: unknown network 'cnv' \(did you mean 'conv'\?\)"):
        _vae({"encoder": {"type": "cnv"}}, img)
    with pytest.raises(GenzooError, match=r"model.prior.n_components of prior 'normal'"):
        _vae({"prior": {"n_components": 3}}, img)
    with pytest.raises(GenzooError, match=r"model.encoder.hidden must be a list of int"):
        _vae({"encoder": {"type": "mlp", "hidden": "wide"}}, img)
    with pytest.raises(GenzooError, match=r"model.encoder must be a network name or a mapping"):
        _vae({"encoder": 5}, img)
    # before any data is loaded (the CLI's early check) an auto network's options must exist somewhere
    assert _vae({"encoder": {"hidden": [8]}})["encoder"] is None
    with pytest.raises(GenzooError, match=r"unknown option model.encoder.widht: no network \(conv, .*mlp.*\) has it"):
        _vae({"encoder": {"widht": 3}})
    with pytest.raises(GenzooError, match=r"unknown option model.vae.encoder.hidden of network 'conv'"):
        resolve(VAE, {"encoder": {"type": "conv", "hidden": [3]}}, "model.vae", skip=1)
    # a wave-1 run's config: the error names the nested option that replaced the old one
    for model, old, new in [("gmmn_ae", "ae_hidden", "autoencoder.encoder.hidden"), ("vqvae", "prior_hidden", "code_prior.hidden"),
                            ("gan", "net", "generator.type"), ("vae", "n_pseudo", "prior.n_pseudo")]:
        with pytest.raises(GenzooError, match=rf"unknown option model.{old};.* write e.g. model.{new}=\.\.\."):
            resolve(MODELS.get(model), {old: 1}, "model", skip=1)


def test_config_yaml_holds_the_full_spec_and_load_rebuilds_it(tmp_path) -> None:
    data = mixture_2d(n_train=64, n_test=32)
    genzoo.train("vae", data, tmp_path / "run", model_options={"encoder": {"hidden": [8, 4]}, "prior": "mog"},
                 steps=2, batch_size=16, progress=False, callbacks=[])
    cfg = yaml.safe_load((tmp_path / "run/config.yaml").read_text())["model"]
    assert cfg["encoder"] == {"type": "mlp", "hidden": [8, 4], "act": "relu", "batch_norm": False, "dropout": 0.0}
    assert cfg["decoder"]["hidden"] == [4, 8] and cfg["prior"] == {"type": "mog", "n_components": 10}
    assert cfg["likelihood"] == {"type": "gaussian", "variance": "learned", "sigma": 1.0}
    loaded = genzoo.load(tmp_path / "run")
    assert [l.out_features for l in loaded.encoder if isinstance(l, torch.nn.Linear)] == [8, 4, 32]
    assert loaded.prior.means.shape == (10, 16)


def test_a_user_network_plugs_into_any_role() -> None:
    @NETS.register("test_affine")
    def test_affine(in_shape: tuple[int, ...], out_shape: tuple[int, ...], scale: float = 1.0) -> torch.nn.Module:
        """A linear map.

        Args:
            scale: initial weight scale.
        """
        import math

        lin = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(math.prod(in_shape), math.prod(out_shape)),
                                  torch.nn.Unflatten(1, tuple(out_shape)))
        lin[1].weight.data.mul_(scale)
        return lin

    try:
        img = tiny_images().info
        m = genzoo.build("vae", img, latent_dim=2, encoder={"type": "test_affine", "scale": 0.5})
        assert isinstance(m.decoder[1], torch.nn.Linear) and m.decoder[1].out_features == 64  # the decoder mirrors it
        x = torch.rand(3, 1, 8, 8)
        assert m.reconstruct(x).shape == x.shape
        rows = {o.path: o for o in options_of(VAE)}
        assert rows["encoder.scale"].help == "[test_affine] initial weight scale." and rows["encoder.scale"].default == 1.0
    finally:
        del NETS._items["test_affine"]


def test_options_of_lists_nested_options_with_role_defaults() -> None:
    rows = {o.path: o for o in options_of(VAE)}
    assert rows["latent_dim"].default == 16 and rows["latent_dim"].type == "int in [1, 2^20]"
    assert rows["encoder"].type.startswith("network:") and "conv for images" in rows["encoder"].default
    conv_width = next(o for o in options_of(VAE) if o.path == "encoder.width" and o.help.startswith("[conv]"))  # other networks have a width too
    assert conv_width.default == 32  # the AE preset
    assert rows["encoder.hidden"].default == (512,) and rows["encoder.hidden"].type == "a list of int, each in [1, 2^20]"
    assert rows["decoder"].default == "encoder mirrored"
    assert rows["prior.n_pseudo"].help == "[vamp] number of pseudo-inputs K." and rows["prior.n_components"].default == 10
    assert "likelihood.sigma" in rows and "model" not in rows and "info" not in rows
    nested = {o.path: o for o in options_of(MODELS.get("gmmn_ae"))}
    assert nested["autoencoder.encoder.hidden"].default == (1024,)  # a preset two levels down
    assert nested["autoencoder.code_act"].default == "sigmoid"
