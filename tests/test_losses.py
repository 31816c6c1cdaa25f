"""Loss values against numbers worked out by hand."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from i2ijax import losses

REAL = jnp.array([[0.5, 2.0], [-1.0, 0.0]])  # D(x)
FAKE = jnp.array([[1.0, -0.5], [0.0, 3.0]])  # D(G(z))


def test_lsgan():
  r, f = losses.lsgan_d_loss(REAL, FAKE)
  # (x-1)^2: .25, 1, 4, 1 -> 6.25/4; x^2: 1, .25, 0, 9 -> 10.25/4
  assert float(r) == pytest.approx(6.25 / 4)
  assert float(f) == pytest.approx(10.25 / 4)
  # (x-1)^2 of FAKE: 0, 2.25, 1, 4 -> 7.25/4
  assert float(losses.lsgan_g_loss(FAKE)) == pytest.approx(7.25 / 4)


def _softplus(x):
  return math.log1p(math.exp(x))


def test_vanilla_is_bce_with_logits():
  r, f = losses.vanilla_d_loss(REAL, FAKE)
  # -log sigmoid(x) = softplus(-x); -log(1 - sigmoid(x)) = softplus(x)
  exp_r = np.mean([_softplus(-v) for v in (0.5, 2.0, -1.0, 0.0)])
  exp_f = np.mean([_softplus(v) for v in (1.0, -0.5, 0.0, 3.0)])
  assert float(r) == pytest.approx(exp_r, rel=1e-6)
  assert float(f) == pytest.approx(exp_f, rel=1e-6)
  exp_g = np.mean([_softplus(-v) for v in (1.0, -0.5, 0.0, 3.0)])  # non-saturating
  assert float(losses.vanilla_g_loss(FAKE)) == pytest.approx(exp_g, rel=1e-6)
  # Stable for large logits (no log(0)).
  assert np.isfinite(float(losses.vanilla_g_loss(jnp.array([-200.0]))))


def test_hinge():
  r, f = losses.hinge_d_loss(REAL, FAKE)
  # relu(1 - x): .5, 0, 2, 1 -> 3.5/4 ; relu(1 + x): 2, .5, 1, 4 -> 7.5/4
  assert float(r) == pytest.approx(3.5 / 4)
  assert float(f) == pytest.approx(7.5 / 4)
  assert float(losses.hinge_g_loss(FAKE)) == pytest.approx(-3.5 / 4)


def test_wgan():
  r, f = losses.wgan_d_loss(REAL, FAKE)
  assert float(r) == pytest.approx(-1.5 / 4)
  assert float(f) == pytest.approx(3.5 / 4)
  assert float(losses.wgan_g_loss(FAKE)) == pytest.approx(-3.5 / 4)


def test_gradient_penalty_linear_critic():
  # D(x) = sum(w * x) has gradient w everywhere: penalty = 10 * (||w|| - 1)^2.
  w = jnp.array([[[[3.0]], [[4.0]]]])  # shape [1, 2, 1, 1], ||w|| = 5
  critic = lambda x: jnp.sum(w * x, axis=(1, 2, 3))
  real = jnp.ones((3, 2, 1, 1))
  fake = -jnp.ones((3, 2, 1, 1))
  gp = losses.gradient_penalty(critic, real, fake, jax.random.key(0), weight=10.0)
  assert float(gp) == pytest.approx(10.0 * 16.0, rel=1e-5)
  # A unit-norm gradient costs nothing.
  critic1 = lambda x: jnp.sum(x * jnp.array([0.6, 0.8]).reshape(1, 2, 1, 1), axis=(1, 2, 3))
  assert float(losses.gradient_penalty(critic1, real, fake, jax.random.key(0))) == pytest.approx(
      0.0, abs=1e-6)


def test_gradient_penalty_per_sample_norm():
  # D(x) = sum(x^2)/2 has gradient x_hat: the norm is taken per sample.
  critic = lambda x: 0.5 * jnp.sum(x**2, axis=(1, 2, 3))
  real = jnp.full((2, 1, 1, 4), 0.5)  # x_hat = real when fake == real
  gp = losses.gradient_penalty(critic, real, real, jax.random.key(1), weight=1.0)
  assert float(gp) == pytest.approx((1.0 - 1.0) ** 2, abs=1e-6)  # ||(.5,.5,.5,.5)|| = 1


def test_unit_gradient_penalty_on_a_patch_critic_with_unit_grad_outputs():
  # A PatchGAN-like critic with 2 x 2 outputs: each output is w . x over its own pixel, so
  # the gradient of the summed outputs is w at every pixel; per sample ||grad|| = 2 * ||w||
  # (4 pixels), and the penalty is (2 ||w|| - 1)^2 whatever x_hat is.
  w = jnp.array([0.3, -0.4, 1.2])  # ||w|| = 1.3
  critic = lambda x: jnp.einsum("nhwc,c->nhw", x, w)[..., None]
  x_hat = jax.random.normal(jax.random.key(0), (3, 2, 2, 3))
  assert float(losses.unit_gradient_penalty(critic, x_hat)) == pytest.approx((2.6 - 1.0) ** 2,
                                                                              rel=1e-6)
  # The interpolation points: alpha real + (1 - alpha) fake, per sample.
  real, fake = jnp.ones((2, 1, 1, 1)), jnp.zeros((2, 1, 1, 1))
  alpha = jnp.array([0.25, 0.75]).reshape(2, 1, 1, 1)
  np.testing.assert_allclose(np.ravel(losses.interpolate_samples(real, fake, alpha)), [0.25, 0.75])
  # The penalty is differentiable in the critic's weights (double backprop).
  grad = jax.grad(lambda v: losses.unit_gradient_penalty(
      lambda x: jnp.einsum("nhwc,c->nhw", x, v), x_hat))(w)
  # d/dw (2||w|| - 1)^2 = 2 (2||w|| - 1) * 2 w / ||w||
  np.testing.assert_allclose(np.asarray(grad), 2 * 1.6 * 2 * np.asarray(w) / 1.3, rtol=1e-5)


def test_binary_attribute_loss_sums_attributes_and_averages_the_batch():
  logits = jnp.array([[2.0, -1.0, 0.0], [0.5, 3.0, -2.0]])
  labels = jnp.array([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
  p = 1 / (1 + np.exp(-np.asarray(logits)))
  bce = -(np.asarray(labels) * np.log(p) + (1 - np.asarray(labels)) * np.log(1 - p))
  assert float(losses.binary_attribute_loss(logits, labels)) == pytest.approx(bce.sum() / 2,
                                                                               rel=1e-6)
  # Stable for large logits: log(1 + e^-100) ~ 0, a confident wrong answer costs ~100.
  assert float(losses.binary_attribute_loss(jnp.array([[100.0]]), jnp.array([[0.0]]))) == \
      pytest.approx(100.0)


def test_softmax_class_loss_takes_indices_or_one_hot():
  logits = jnp.array([[1.0, 2.0, 0.0], [0.0, 0.0, 3.0]])
  lse = np.log(np.exp(np.asarray(logits)).sum(1))
  want = np.mean([lse[0] - 2.0, lse[1] - 0.0])  # classes 1 and 0
  assert float(losses.softmax_class_loss(logits, jnp.array([1, 0]))) == pytest.approx(want,
                                                                                      rel=1e-6)
  one_hot = jnp.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
  assert float(losses.domain_classification_loss(logits, one_hot, True)) == pytest.approx(
      want, rel=1e-6)
  assert float(losses.domain_classification_loss(logits, one_hot, False)) == pytest.approx(
      float(losses.binary_attribute_loss(logits, one_hot)))


def test_mask_vector_labels_and_dataset_logits():
  # Joint CelebA (5 attributes) + RaFD (4 classes): [CelebA | RaFD | mask].
  celeba = jnp.array([[1.0, 0.0, 0.0, 1.0, 1.0]])
  rafd = jnp.array([[0.0, 0.0, 1.0, 0.0]])
  np.testing.assert_array_equal(losses.mask_vector_label(celeba, 0, (5, 4)),
                                [[1, 0, 0, 1, 1, 0, 0, 0, 0, 1, 0]])
  np.testing.assert_array_equal(losses.mask_vector_label(rafd, 1, (5, 4)),
                                [[0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1]])
  with pytest.raises(ValueError, match="labels of dataset 1 have 5 values"):
    losses.mask_vector_label(celeba, 1, (5, 4))
  logits = jnp.arange(9.0)[None]
  np.testing.assert_array_equal(losses.dataset_logits(logits, 0, (5, 4)), [[0, 1, 2, 3, 4]])
  np.testing.assert_array_equal(losses.dataset_logits(logits, 1, (5, 4)), [[5, 6, 7, 8]])
  # Only the known dataset's labels count: changing RaFD's logits leaves CelebA's loss alone.
  loss = lambda lg: losses.binary_attribute_loss(losses.dataset_logits(lg, 0, (5, 4)), celeba)
  assert float(loss(logits)) == float(loss(logits.at[0, 5:].set(-7.0)))


def test_cycle_and_identity_l1():
  a = jnp.array([[0.0, 1.0], [-1.0, 0.5]])
  b = jnp.array([[0.5, 1.0], [1.0, -0.5]])
  # |diff|: .5, 0, 2, 1 -> 3.5 / 4
  assert float(losses.cycle_loss(a, b)) == pytest.approx(3.5 / 4)
  assert float(losses.identity_loss(b, a)) == pytest.approx(3.5 / 4)


def test_adversarial_lookup():
  assert losses.adversarial("lsgan").g_loss is losses.lsgan_g_loss
  with pytest.raises(ValueError, match="unknown gan_mode 'ls'"):
    losses.adversarial("ls")


def test_r1_penalty_of_a_linear_critic_by_hand():
  # D(x) = <w, x> per sample: the gradient is w for every sample, so
  # R1 = 0.5 * mean_n ||w||^2 = 0.5 * (1 + 4 + 9 + 0) = 7.
  w = jnp.array([[1.0, -2.0], [3.0, 0.0]])[None, :, :, None]
  critic = lambda x: jnp.sum(x * w, axis=(1, 2, 3))
  x = jnp.arange(3 * 2 * 2, dtype=jnp.float32).reshape(3, 2, 2, 1)
  reg, out = losses.r1_penalty(critic, x)
  assert float(reg) == pytest.approx(7.0)
  np.testing.assert_allclose(out, critic(x))


def test_r1_penalty_matches_finite_differences():
  # A nonlinear per-sample critic; the gradient norm by central differences in float64.
  rng = np.random.default_rng(0)
  w1 = rng.normal(size=(12, 5))
  w2 = rng.normal(size=(5,))
  critic = lambda x: jnp.tanh(x.reshape(x.shape[0], -1) @ w1) @ w2
  x = rng.normal(size=(3, 2, 2, 3))
  with jax.enable_x64():
    reg, _ = losses.r1_penalty(critic, jnp.asarray(x))
    eps = 1e-6
    sq = np.zeros(3)
    for n in range(3):
      for idx in np.ndindex(x.shape[1:]):
        xp, xm = x.copy(), x.copy()
        xp[(n,) + idx] += eps
        xm[(n,) + idx] -= eps
        g = (float(jnp.sum(critic(jnp.asarray(xp)))) - float(jnp.sum(critic(jnp.asarray(xm))))) / (2 * eps)
        sq[n] += g * g
    assert float(reg) == pytest.approx(0.5 * sq.mean(), rel=1e-6)
    # Its own gradient (what the discriminator step differentiates) exists and is finite.
    g = jax.grad(lambda s: losses.r1_penalty(lambda x: s * critic(x), jnp.asarray(x))[0])(1.5)
    assert float(g) == pytest.approx(2 * 1.5 * float(reg), rel=1e-6)  # reg scales as s^2


def test_style_reconstruction_and_diversity_terms():
  a = jnp.array([[1.0, -1.0], [0.5, 2.0]])
  b = jnp.array([[0.0, 1.0], [0.0, -2.0]])
  # |1| + |-2| + |0.5| + |4| = 7.5 over 4 elements
  assert float(losses.style_reconstruction_loss(a, b)) == pytest.approx(7.5 / 4)
  assert float(losses.diversity_sensitive_loss(a, b)) == pytest.approx(7.5 / 4)
  # Only the first image is differentiated: the second is a constant.
  ga, gb = jax.grad(losses.diversity_sensitive_loss, argnums=(0, 1))(a, b)
  np.testing.assert_allclose(ga, jnp.sign(a - b) / 4)
  np.testing.assert_allclose(gb, 0.0)


# ---------------------------------------------------------------- MUNIT / UNIT terms
def test_multiscale_lsgan_losses_sum_over_scales():
  real = [jnp.array([[1.0, 3.0]]), jnp.array([[0.0]])]
  fake = [jnp.array([[0.0, 2.0]]), jnp.array([[-1.0]])]
  # scale 0: real ((0 + 4) / 2) + fake ((0 + 4) / 2) = 4; scale 1: real 1 + fake 1 = 2.
  assert float(losses.multiscale_d_loss(real, fake)) == pytest.approx(6.0)
  # generator: scale 0 ((1 + 1) / 2) = 1; scale 1: 4.
  assert float(losses.multiscale_g_loss(fake)) == pytest.approx(5.0)
  # nsgan: the BCE terms per scale.
  z = [jnp.zeros((1, 2))]
  assert float(losses.multiscale_d_loss(z, z, losses.adversarial("vanilla"))) == pytest.approx(2 * np.log(2))
  with pytest.raises(ValueError):
    losses.multiscale_d_loss(real, fake[:1])


def test_latent_reconstruction_and_kl_by_hand():
  c = jnp.array([[1.0, -2.0], [0.5, 0.0]])
  assert float(losses.latent_reconstruction_loss(c, jnp.zeros_like(c))) == pytest.approx(0.875)
  # Both arguments carry gradient (the official target is not detached).
  g = jax.grad(lambda a, b: losses.latent_reconstruction_loss(a, b), argnums=(0, 1))(c, c + 1)
  assert float(jnp.abs(g[1]).sum()) > 0
  assert float(losses.gaussian_kl_unit_variance(c)) == pytest.approx((1 + 4 + 0.25) / 4)
  assert float(losses.image_reconstruction_loss(c, c)) == 0.0


def test_instance_normalized_feature_loss():
  rng = np.random.default_rng(0)
  f = jnp.asarray(rng.normal(size=(2, 4, 4, 3)))
  # Invariant to per-channel affine changes of either feature map (the IN removes them).
  assert float(losses.instance_normalized_feature_loss(f, 3 * f + 2)) == pytest.approx(0, abs=1e-6)
  g = jnp.asarray(rng.normal(size=(2, 4, 4, 3)))
  norm = lambda x: (x - x.mean((1, 2), keepdims=True)) / np.sqrt(x.var((1, 2), keepdims=True) + 1e-5)
  expect = np.mean((norm(np.asarray(f)) - norm(np.asarray(g))) ** 2)
  assert float(losses.instance_normalized_feature_loss(f, g)) == pytest.approx(expect, rel=1e-5)


def test_unit_gradient_penalty_on_a_linear_feature_critic_with_a_vector_output():
  # HomoInterpGAN: D(F) = [N, 1, 1, 256] scores, unit grad_outputs over all of them. For a
  # linear critic D(F)_k = <W_k, F>, the gradient of sum_k D_k is sum_k W_k for every sample.
  rng = np.random.default_rng(3)
  w = rng.normal(size=(6, 2, 2, 3)) * 0.2  # 6 outputs over a 2 x 2 x 3 feature
  critic = lambda f: jnp.einsum("nhwc,khwc->nk", f, jnp.asarray(w))[:, None, None, :]
  f_hat = jnp.asarray(rng.normal(size=(4, 2, 2, 3)))
  with jax.enable_x64(True):
    got = float(losses.unit_gradient_penalty(critic, jnp.asarray(f_hat, jnp.float64)))
  norm = np.linalg.norm(w.sum(0))
  assert got == pytest.approx((norm - 1.0) ** 2, rel=1e-12)
  assert 100 * got == pytest.approx(100 * (norm - 1.0) ** 2)  # lambda_gp 100 scales it


def test_interpolated_attribute_targets_and_mse():
  a = jnp.asarray([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
  b = jnp.asarray([[0.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
  v = jnp.asarray([[0.25, 0.25, 1.0], [0.0, 0.0, 0.5]])
  np.testing.assert_allclose(losses.interpolated_attribute_targets(a, b, v),
                             [[0.75, 0.25, 1.0], [0.0, 0.0, 0.5]])
  # Strength 0 keeps the source's labels, 1 takes the reference's.
  np.testing.assert_array_equal(losses.interpolated_attribute_targets(a, b, jnp.zeros_like(v)), a)
  np.testing.assert_array_equal(losses.interpolated_attribute_targets(a, b, jnp.ones_like(v)), b)
  x = jnp.asarray([[1.0, 2.0], [3.0, 4.0]])
  assert float(losses.mse_loss(x, jnp.zeros_like(x))) == pytest.approx(30.0 / 4)
  # Soft targets in the summed BCE: -(t log s(z) + (1 - t) log(1 - s(z))) at z = 0 is log 2.
  assert float(losses.binary_attribute_loss(jnp.zeros((2, 3)), v)) == pytest.approx(
      3 * math.log(2.0))


def test_drit_content_adversarial_loss_is_log2_at_zero_logits_and_symmetric():
  # BCE(s(l), 0.5) = 0.5 log(1 + e^-l) + 0.5 log(1 + e^l): log 2 at l = 0, even in l.
  assert float(losses.content_adversarial_loss(jnp.zeros(3))) == pytest.approx(math.log(2))
  l = jnp.array([1.5, -1.5])
  want = 0.5 * math.log1p(math.exp(-1.5)) + 0.5 * math.log1p(math.exp(1.5))
  assert float(losses.content_adversarial_loss(l)) == pytest.approx(want)


def test_drit_gaussian_kl_by_hand():
  # KL(N(mu, s^2) || N(0, 1)) = 0.5 (mu^2 + s^2 - 1 - log s^2) per element, summed.
  mu = jnp.array([[0.0, 1.0], [2.0, -1.0]])
  logvar = jnp.array([[0.0, 0.0], [math.log(4.0), math.log(0.25)]])
  want = 0.5 * ((0 + 1 - 1 - 0) + (1 + 1 - 1 - 0) + (4 + 4 - 1 - math.log(4.0))
                + (1 + 0.25 - 1 - math.log(0.25)))
  assert float(losses.gaussian_kl_loss(mu, logvar)) == pytest.approx(want)
  assert float(losses.gaussian_kl_loss(jnp.zeros((3, 8)), jnp.zeros((3, 8)))) == 0.0


def test_mode_seeking_loss_by_hand_and_falls_as_outputs_move_apart():
  z1, z2 = jnp.zeros((1, 4)), jnp.full((1, 4), 2.0)  # mean |z2 - z1| = 2
  f1 = jnp.zeros((1, 2, 2, 3))
  f2 = jnp.full((1, 2, 2, 3), 0.5)  # mean |f2 - f1| = 0.5: ratio 0.25
  assert float(losses.mode_seeking_loss(f1, f2, z1, z2)) == pytest.approx(1 / (0.25 + 1e-5))
  near = losses.mode_seeking_loss(f1, f2 * 0.1, z1, z2)
  far = losses.mode_seeking_loss(f1, f2 * 2.0, z1, z2)
  assert float(far) < float(losses.mode_seeking_loss(f1, f2, z1, z2)) < float(near)
  # Identical outputs: the ratio 0 gives the cap 1 / eps.
  assert float(losses.mode_seeking_loss(f1, f1, z1, z2)) == pytest.approx(1e5)
  # The gradient pushes the outputs apart: it is negative along f2 - f1.
  g = jax.grad(lambda f: losses.mode_seeking_loss(f1, f, z1, z2))(f2)
  assert float(jnp.sum(g)) < 0


def test_genegan_parallelogram_loss_by_hand_and_zero_for_a_linear_swap():
  # Ax = A + X, Be = B, Bx = B + X, Ae = A: swapping one additive attribute image X.
  rng = np.random.default_rng(0)
  a, b, x = (jnp.asarray(rng.integers(0, 100, (2, 3, 3, 3)), jnp.float32) for _ in range(3))
  assert float(losses.parallelogram_loss(a + x, b, b + x, a)) == 0.0  # integers: exact
  one = jnp.zeros((1, 1, 2, 1))
  # Ax + Be - Bx - Ae = [1 + 2 - 0 - 4, 0 + 0 - 3 - 0] = [-1, -3]: mean |.| = 2.
  ax, be = one.at[0, 0, 0, 0].set(1.0), one.at[0, 0, 0, 0].set(2.0)
  bx, ae = one.at[0, 0, 1, 0].set(3.0), one.at[0, 0, 0, 0].set(4.0)
  assert float(losses.parallelogram_loss(ax, be, bx, ae)) == pytest.approx(2.0)


def test_genegan_mean_square_weight_decay_by_hand():
  # 0.5 * wd * (mean([1, 3]^2) + mean([2]^2)) = 0.5 * wd * (5 + 4).
  w = [jnp.array([1.0, 3.0]), jnp.array([[2.0]])]
  assert float(losses.mean_square_weight_decay(w, 0.1)) == pytest.approx(0.5 * 0.1 * 9.0)
  assert float(losses.mean_square_weight_decay({"a": w[0]}, 0.0)) == 0.0


def test_dtn_ternary_discriminator_and_generator_losses_by_hand():
  zeros = jnp.zeros((2, 3))
  # Uniform logits: every class has probability 1/3, each term is log 3.
  assert float(losses.ternary_d_loss(zeros, zeros, zeros)) == pytest.approx(3 * math.log(3))
  assert float(losses.ternary_g_loss(zeros, zeros)) == pytest.approx(2 * math.log(3))
  # Logits [0, 0, log 2]: p = (1/4, 1/4, 1/2). D wants class 0 for G(x), 1 for G(t), 2 for t:
  # -log(1/4) - log(1/4) - log(1/2) = 5 log 2; G wants class 2 for both fakes: 2 log 2.
  half = jnp.array([[0.0, 0.0, math.log(2.0)]])
  assert float(losses.ternary_d_loss(half, half, half)) == pytest.approx(5 * math.log(2))
  assert float(losses.ternary_g_loss(half, half)) == pytest.approx(2 * math.log(2))
  # The classes: logits that put G(x) in class 0, G(t) in 1 and t in 2 make L_D ~ 0 and L_GANG
  # large; swapping the fakes' classes makes L_D large.
  big = 30.0
  onehot = lambda k: jnp.zeros((1, 3)).at[0, k].set(big)
  assert float(losses.ternary_d_loss(onehot(0), onehot(1), onehot(2))) < 1e-6
  assert float(losses.ternary_d_loss(onehot(1), onehot(0), onehot(2))) == pytest.approx(
      2 * big, rel=1e-6)
  assert float(losses.ternary_g_loss(onehot(0), onehot(1))) == pytest.approx(2 * big, rel=1e-6)
  assert float(losses.ternary_g_loss(onehot(2), onehot(2))) < 1e-6


def test_dtn_f_constancy_and_target_identity_by_hand():
  fx = jnp.array([[1.0, 2.0]])
  fgx = jnp.array([[1.0, 4.0]])
  # mean((1 - 1)^2, (2 - 4)^2) = 2; the gradient reaches only f(G(x)): d/dfgx = 2 (fgx - fx)/2.
  assert float(losses.f_constancy_loss(fx, fgx)) == pytest.approx(2.0)
  g_fx, g_fgx = jax.grad(losses.f_constancy_loss, argnums=(0, 1))(fx, fgx)
  assert float(jnp.abs(g_fx).max()) == 0.0
  np.testing.assert_allclose(g_fgx, [[0.0, 2.0]])
  t = jnp.array([[[[-1.0], [1.0]]]])
  gt = jnp.array([[[[0.0], [1.0]]]])
  # mean((-1 - 0)^2, (1 - 1)^2) = 0.5.
  assert float(losses.target_identity_loss(t, gt)) == pytest.approx(0.5)
  # The cheap check: with f = identity and g = identity both terms are 0.
  x = jnp.asarray(np.random.default_rng(0).uniform(-1, 1, (2, 4, 4, 1)))
  assert float(losses.f_constancy_loss(x, x)) == 0.0
  assert float(losses.target_identity_loss(x, x)) == 0.0


def test_dtn_total_variation_by_hand():
  # 2x2 image [[0, 3], [4, *]]: one position with both neighbours: sqrt(3^2 + 4^2) = 5.
  z = jnp.array([[[[0.0], [3.0]], [[4.0], [100.0]]]])
  assert float(losses.total_variation_loss(z, eps=0.0)) == pytest.approx(5.0)
  assert float(losses.total_variation_loss(z, beta=2.0, eps=0.0)) == pytest.approx(25.0)
  # 3x3 ramp z_ij = i + 2j: every one of the 4 positions has dx = 2, dy = 1: sqrt(5) each;
  # two channels and two images average to the same.
  ramp = jnp.asarray([[i + 2.0 * j for j in range(3)] for i in range(3)])
  batch = jnp.broadcast_to(ramp[None, :, :, None], (2, 3, 3, 2))
  assert float(losses.total_variation_loss(batch, eps=0.0)) == pytest.approx(math.sqrt(5.0))
  # A flat image has no variation, and a finite gradient thanks to eps.
  flat = jnp.ones((1, 4, 4, 1))
  assert float(losses.total_variation_loss(flat)) == pytest.approx(1e-4)
  assert bool(jnp.all(jnp.isfinite(jax.grad(losses.total_variation_loss)(flat))))
