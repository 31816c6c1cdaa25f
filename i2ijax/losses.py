"""Loss functions shared by every model. All are pure functions of arrays.

Discriminator outputs are raw logits / scores of any shape (patch maps
included); every loss averages over all their elements, as PyTorch's
`MSELoss`/`BCEWithLogitsLoss` with `reduction='mean'` do. Images are NHWC in
[-1, 1].

Adversarial objectives follow `GANLoss` of junyanz/pytorch-CycleGAN-and-pix2pix
(`lsgan`, `vanilla`, `wgangp`) plus the hinge loss (Lim & Ye 2017; Miyato et
al. 2018). Each `*_d_loss` returns `(real_term, fake_term)` so a model can
weight them (CycleGAN and pix2pix use 0.5 * (real + fake)); each `*_g_loss`
returns the generator's term for the logits of its fakes.
"""

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax


# ---------------------------------------------------------------- least squares
def lsgan_d_loss(real_logits, fake_logits):
  """LSGAN (Mao et al. 2017, eq. 2 with a=0, b=1): E[(D(x)-1)^2], E[D(G(z))^2]."""
  return jnp.mean(jnp.square(real_logits - 1.0)), jnp.mean(jnp.square(fake_logits))


def lsgan_g_loss(fake_logits):
  """LSGAN generator term (c=1): E[(D(G(z)) - 1)^2]."""
  return jnp.mean(jnp.square(fake_logits - 1.0))


# ---------------------------------------------------------------- vanilla (BCE)
def vanilla_d_loss(real_logits, fake_logits):
  """Goodfellow et al. 2014 with logits: -E[log s(D(x))], -E[log(1 - s(D(G(z))))]."""
  real = optax.sigmoid_binary_cross_entropy(real_logits, jnp.ones_like(real_logits))
  fake = optax.sigmoid_binary_cross_entropy(fake_logits, jnp.zeros_like(fake_logits))
  return jnp.mean(real), jnp.mean(fake)


def vanilla_g_loss(fake_logits):
  """Non-saturating generator loss: -E[log s(D(G(z)))] = E[softplus(-D(G(z)))]."""
  return jnp.mean(optax.sigmoid_binary_cross_entropy(fake_logits, jnp.ones_like(fake_logits)))


# ---------------------------------------------------------------- hinge
def hinge_d_loss(real_logits, fake_logits):
  """Hinge: E[relu(1 - D(x))], E[relu(1 + D(G(z)))]."""
  return jnp.mean(jax.nn.relu(1.0 - real_logits)), jnp.mean(jax.nn.relu(1.0 + fake_logits))


def hinge_g_loss(fake_logits):
  """Hinge generator term: -E[D(G(z))]."""
  return -jnp.mean(fake_logits)


# ---------------------------------------------------------------- Wasserstein
def wgan_d_loss(real_logits, fake_logits):
  """WGAN critic (Arjovsky et al. 2017): -E[D(x)], +E[D(G(z))]. Add `gradient_penalty`."""
  return -jnp.mean(real_logits), jnp.mean(fake_logits)


def wgan_g_loss(fake_logits):
  """WGAN generator term: -E[D(G(z))]."""
  return -jnp.mean(fake_logits)


def gradient_penalty(critic: Callable[[jax.Array], jax.Array], real, fake, key,
                     weight: float = 10.0):
  """WGAN-GP (Gulrajani et al. 2017, eq. 3): weight * E[(||grad D(x_hat)||_2 - 1)^2].

  x_hat = a * real + (1 - a) * fake with one a ~ U[0, 1) per sample, the norm
  taken over each sample's flattened gradient. As the official
  `cal_gradient_penalty` of pytorch-CycleGAN-and-pix2pix, 1e-16 is added to
  the gradient before the norm (`unit_gradient_penalty` with eps 1e-16).

  Args:
    critic: maps a batch [N, ...] to scores of any shape; its outputs are summed.
    real, fake: [N, ...] batches of the same shape.
    key: PRNG key for the interpolation weights.
    weight: lambda (10 in the paper).
  """
  alpha = jax.random.uniform(key, (real.shape[0],) + (1,) * (real.ndim - 1), real.dtype)
  x_hat = interpolate_samples(real, fake, alpha)
  return weight * unit_gradient_penalty(critic, x_hat, eps=1e-16)


def interpolate_samples(real, fake, alpha):
  """x_hat = alpha * real + (1 - alpha) * fake, [N, ...] each, alpha [N, 1, ...]: the
  points of the WGAN-GP penalty (Gulrajani et al. 2017, alg. 1). Neither input
  is differentiated (the official `.data`)."""
  real, fake = jax.lax.stop_gradient(real), jax.lax.stop_gradient(fake)
  return alpha * real + (1.0 - alpha) * fake


def unit_gradient_penalty(critic: Callable[[jax.Array], jax.Array], x_hat, eps: float = 0.0):
  """E_n[(||d(sum D(x_hat)) / d x_hat_n||_2 - 1)^2] (Gulrajani et al. 2017, eq. 3, unweighted).

  The gradient of the summed outputs, i.e. unit `grad_outputs` over every
  output (a PatchGAN map included); the L2 norm over each sample's flattened
  gradient (after adding `eps` to it: 0 in StarGAN's `gradient_penalty`,
  1e-16 in `cal_gradient_penalty`), averaged over the batch. Differentiable
  in the critic's parameters (double backprop, the official `create_graph`).

  Args:
    critic: [N, H, W, C] -> scores of any shape.
    x_hat: [N, H, W, C] points where the gradient is taken.
  """
  grads = jax.grad(lambda x: jnp.sum(critic(x)))(x_hat)
  grads = grads.astype(jnp.promote_types(grads.dtype, jnp.float32))
  flat = grads.reshape(grads.shape[0], -1) + eps
  norms = jnp.sqrt(jnp.sum(jnp.square(flat), axis=1))
  return jnp.mean(jnp.square(norms - 1.0))


class Adversarial(NamedTuple):
  """A GAN objective: `d_loss(real, fake) -> (real_term, fake_term)`, `g_loss(fake)`."""
  d_loss: Callable
  g_loss: Callable


ADVERSARIAL = {
    "lsgan": Adversarial(lsgan_d_loss, lsgan_g_loss),
    "vanilla": Adversarial(vanilla_d_loss, vanilla_g_loss),
    "hinge": Adversarial(hinge_d_loss, hinge_g_loss),
    "wgangp": Adversarial(wgan_d_loss, wgan_g_loss),
}


def adversarial(gan_mode: str) -> Adversarial:
  """The objective named by the official `--gan_mode` (plus 'hinge')."""
  if gan_mode not in ADVERSARIAL:
    raise ValueError(f"unknown gan_mode {gan_mode!r}; valid: {sorted(ADVERSARIAL)}")
  return ADVERSARIAL[gan_mode]


# ---------------------------------------------------------------- reconstruction
def l1_loss(x, y):
  """Mean absolute error over all elements (`nn.L1Loss()`)."""
  return jnp.mean(jnp.abs(x - y))


def cam_loss(source_logits, target_logits):
  """U-GAT-IT's generator CAM loss (Kim et al. 2020, eq. 5):
  L_cam = -(E[log eta(x_s)] + E[log(1 - eta(x_t))]).

  source_logits: the generator's CAM logits [N, 2] (average- and max-pooled)
  on images of the *other* domain, which it translates (target 1);
  target_logits: its logits on images of its own target domain, the identity
  mapping (target 0). Each term is the mean sigmoid cross-entropy over all
  elements (`nn.BCEWithLogitsLoss`).
  """
  return (jnp.mean(optax.sigmoid_binary_cross_entropy(source_logits, jnp.ones_like(source_logits)))
          + jnp.mean(optax.sigmoid_binary_cross_entropy(target_logits,
                                                        jnp.zeros_like(target_logits))))


def cycle_loss(reconstructed, original):
  """Cycle consistency (Zhu et al. 2017, eq. 2): E[||F(G(x)) - x||_1], per element mean."""
  return l1_loss(reconstructed, original)


def identity_loss(mapped, original):
  """Identity mapping (Zhu et al. 2017, sec. 5.2; Taigman et al. 2017): E[||G(y) - y||_1]."""
  return l1_loss(mapped, original)


# ---------------------------------------------------------------- domain classification
def binary_attribute_loss(logits, labels):
  """Multi-label domain classification (Choi et al. 2018, eqs. 2-3, CelebA):
  sum over attributes of BCE-with-logits, averaged over the batch (the official
  `binary_cross_entropy_with_logits(..., size_average=False) / N`).

  Args:
    logits: [N, K] classifier logits D_cls(x).
    labels: [N, K] target attributes in {0, 1} (or soft values in [0, 1]).
  """
  labels = labels.astype(logits.dtype)
  per = jnp.maximum(logits, 0) - logits * labels + jnp.log1p(jnp.exp(-jnp.abs(logits)))
  return jnp.sum(per) / logits.shape[0]


def softmax_class_loss(logits, labels):
  """Single-label domain classification (Choi et al. 2018, eqs. 2-3, RaFD): softmax cross
  entropy averaged over the batch (the official `F.cross_entropy`).

  Args:
    logits: [N, K] classifier logits.
    labels: int [N] class indices, or [N, K] one-hot vectors.
  """
  if labels.ndim == 2:
    labels = jnp.argmax(labels, axis=-1)
  return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, labels))


def domain_classification_loss(logits, labels, single_label: bool):
  """`softmax_class_loss` for single-label data (one class per image), else
  `binary_attribute_loss` (the official `classification_loss(logit, target, dataset)`)."""
  return softmax_class_loss(logits, labels) if single_label else binary_attribute_loss(logits,
                                                                                       labels)


def mask_vector_label(labels, dataset: int, label_dims):
  """The joint-training label of StarGAN (Choi et al. 2018, sec. 3.2, eq. 8): the labels
  of every dataset side by side, the unknown ones zero, then a one-hot mask of
  the dataset the labels come from.

  Args:
    labels: [N, label_dims[dataset]] labels of dataset `dataset` (one-hot for
      single-label data).
    dataset: index of the dataset that `labels` belong to.
    label_dims: label size of every dataset, e.g. (5, 8) for CelebA and RaFD.
  Returns:
    [N, sum(label_dims) + len(label_dims)].
  """
  n = labels.shape[0]
  if labels.shape[-1] != label_dims[dataset]:
    raise ValueError(f"labels of dataset {dataset} have {labels.shape[-1]} values, "
                     f"label_dims says {label_dims[dataset]}")
  dtype = labels.dtype if jnp.issubdtype(labels.dtype, jnp.floating) else jnp.float32
  parts = [labels.astype(dtype) if k == dataset else jnp.zeros((n, d), dtype)
           for k, d in enumerate(label_dims)]
  mask = jnp.zeros((n, len(label_dims)), dtype).at[:, dataset].set(1)
  return jnp.concatenate(parts + [mask], axis=-1)


def dataset_logits(logits, dataset: int, label_dims):
  """The classifier logits [N, label_dims[dataset]] of one dataset out of the joint
  logits [N, sum(label_dims)]: in joint training only the known dataset's labels
  count (the official `out_cls[:, :c_dim]` / `out_cls[:, c_dim:]`)."""
  start = sum(label_dims[:dataset])
  return logits[:, start:start + label_dims[dataset]]


# ---------------------------------------------------------------- regularisers and latent terms
def r1_penalty(discriminator: Callable[[jax.Array], jax.Array], real) -> tuple[jax.Array, jax.Array]:
  """Zero-centred R1 penalty on real images (Mescheder et al. 2018, eq. 9, without gamma).

  0.5 * E_n[ ||d(sum_m D(x_m)) / d x_n||^2 ], the per-sample squared norm of
  the gradient of the summed outputs, averaged over the batch, as the
  official StarGAN v2 `r1_reg` (the caller weights it, lambda_reg = 1 there).
  Returns (penalty, D(real)) so the same forward also gives the real logits.

  Args:
    discriminator: [N, ...] images -> outputs of any shape (logits of the real domain).
    real: [N, H, W, C] real images.
  """
  out, vjp = jax.vjp(discriminator, real)
  (grad,) = vjp(jnp.ones_like(out))
  grad = grad.astype(jnp.promote_types(grad.dtype, jnp.float32))  # bf16 -> f32; f64 stays
  per_sample = jnp.sum(jnp.square(grad).reshape(real.shape[0], -1), axis=1)
  return 0.5 * jnp.mean(per_sample), out


def style_reconstruction_loss(predicted_style, target_style):
  """Style reconstruction (Choi et al. 2020, eq. 2): E[||s~ - E_y~(G(x, s~))||_1], per element mean."""
  return l1_loss(predicted_style, target_style)


def diversity_sensitive_loss(fake1, fake2):
  """Style diversification (Choi et al. 2020, eq. 3): E[||G(x, s1) - G(x, s2)||_1].

  The generator *maximises* it (its weight enters the generator loss with a
  minus sign). As the official code, the second image is a constant
  (stop_gradient): only the path through `fake1` is differentiated.
  """
  return l1_loss(fake1, jax.lax.stop_gradient(fake2))


# ---------------------------------------------------------------- multi-scale and latent terms
def multiscale_d_loss(real_outputs, fake_outputs, gan: Adversarial = ADVERSARIAL["lsgan"]):
  """MUNIT's `MsImageDis.calc_dis_loss`: sum over scales k of real_term_k + fake_term_k.

  With `gan` = adversarial("lsgan"): E[(D_k(real) - 1)^2] + E[D_k(fake)^2];
  adversarial("vanilla") (the official 'nsgan'): the two BCE terms.
  Args:
    real_outputs, fake_outputs: lists of per-scale logit maps (finest first).
    gan: the objective (`adversarial(name)`), as every other GAN loss takes it.
  """
  total = 0.0
  for real, fake in zip(real_outputs, fake_outputs, strict=True):
    r, f = gan.d_loss(real, fake)
    total = total + r + f
  return total


def multiscale_g_loss(fake_outputs, gan: Adversarial = ADVERSARIAL["lsgan"]):
  """MUNIT's `MsImageDis.calc_gen_loss`: sum over scales k (lsgan: E[(D_k(fake) - 1)^2])."""
  return sum(gan.g_loss(fake) for fake in fake_outputs)


def image_reconstruction_loss(reconstructed, original):
  """Within-domain image reconstruction (Huang et al. 2018, eq. 1): E[||G(E(x)) - x||_1]."""
  return l1_loss(reconstructed, original)


def latent_reconstruction_loss(reconstructed, original):
  """Latent reconstruction (Huang et al. 2018, eq. 2-3): E[||E(G(c, s)) - c||_1] for the
  content code, likewise for the style code; per element mean. Both arguments are
  differentiated, as in the official code (the target is not detached)."""
  return l1_loss(reconstructed, original)


def gaussian_kl_unit_variance(mean):
  """UNIT's KL term (Liu et al. 2017, eq. 4, with the official unit-variance encoder):
  KL(N(mu, I) || N(0, I)) up to a constant and scale, as the official `__compute_kl`:
  E[mu^2], the mean over all elements."""
  return jnp.mean(jnp.square(mean))


def instance_normalized_feature_loss(features, target_features, eps: float = 1e-5):
  """MUNIT's domain-invariant perceptual loss (`compute_vgg_loss`):
  E[(IN(f(x)) - IN(f(y)))^2] with IN a non-affine instance norm over H, W of
  NHWC features (eps 1e-5, biased variance)."""
  def normalize(f):
    f = f.astype(jnp.promote_types(f.dtype, jnp.float32))  # at least float32
    mean = jnp.mean(f, axis=(1, 2), keepdims=True)
    var = jnp.var(f, axis=(1, 2), keepdims=True)
    return (f - mean) * jax.lax.rsqrt(var + eps)
  return jnp.mean(jnp.square(normalize(features) - normalize(target_features)))


# ---------------------------------------------------------------- feature-space losses
def mse_loss(x, y):
  """Mean squared error over every element (PyTorch's `MSELoss()`): E[(x - y)^2]. Both
  arguments are differentiated; detach a target with `jax.lax.stop_gradient`."""
  return jnp.mean(jnp.square(x - y))


def interpolated_attribute_targets(source, reference, strengths):
  """HomoInterpGAN's attribute targets of an interpolated feature (Chen et al. 2019; the
  official `attr_interp`): a1 + v (a2 - a1), per attribute.

  source, reference: [N, K] attribute labels a1, a2 in [0, 1]; strengths:
  [N, K] the interpolation strength v of each attribute's group. Soft targets
  for `binary_attribute_loss`.
  """
  return source + strengths * (reference - source)


# ---------------------------------------------------------------- DRIT++ terms
def content_adversarial_loss(content_logits):
  """DRIT's content adversarial term for the encoders (Lee et al. 2018, eq. 2): the content
  discriminator's logits [any shape] pushed towards 0.5, BCE(sigmoid(l), 0.5) averaged:
  E[0.5 softplus(-l) + 0.5 softplus(l)]; minimal (log 2) where the content discriminator
  cannot tell the domains apart."""
  return jnp.mean(optax.sigmoid_binary_cross_entropy(content_logits,
                                                     jnp.full_like(content_logits, 0.5)))


def gaussian_kl_loss(mean, logvar):
  """KL(N(mean, exp(logvar)) || N(0, I)) summed over all elements (DRIT's attribute KL,
  Lee et al. 2020, eq. 6; the official sum, not a mean):
  -0.5 * sum(1 + logvar - mean^2 - exp(logvar)). mean, logvar: [N, nz]."""
  return -0.5 * jnp.sum(1.0 + logvar - jnp.square(mean) - jnp.exp(logvar))


def mode_seeking_loss(fake1, fake2, z1, z2, eps: float = 1e-5):
  """Mode seeking (Mao et al. 2019, eq. 3; DRIT++'s `lz`): the reciprocal of
  mean|G(c, z1) - G(c, z2)| / mean|z1 - z2|, plus eps: 1 / (ratio + eps). fake1, fake2:
  [N, H, W, C] from the same contents with codes z1, z2 [N, nz]; minimising it pushes the
  two outputs apart. Both images are differentiated, the codes are constants."""
  ratio = jnp.mean(jnp.abs(fake2 - fake1)) / jnp.mean(jnp.abs(z2 - z1))
  return 1.0 / (ratio + eps)


# ---------------------------------------------------------------- DiscoGAN terms
def clamped_bce_with_logits(logits, target):
  """PyTorch's `BCELoss()` on sigmoid(logits), averaged over every element: with each log
  clamped at -100 as BCELoss clamps it, -E[t max(log s(l), -100) + (1 - t) max(log(1 - s(l)),
  -100)]; the same as `optax.sigmoid_binary_cross_entropy` until a probability saturates
  (DiscoGAN's D ends in a sigmoid and its losses are BCELoss). target: 0/1, broadcast."""
  log_p = jnp.maximum(jax.nn.log_sigmoid(logits), -100.0)
  log_q = jnp.maximum(jax.nn.log_sigmoid(-logits), -100.0)
  return -jnp.mean(target * log_p + (1.0 - target) * log_q)


def feature_matching_loss(real_features, fake_features):
  """DiscoGAN's feature matching (Kim et al. 2017, the official `get_fm_loss`; Salimans et
  al. 2016, sec. 3.1): sum over the discriminator layers l of the mean over channels and
  positions of (E_batch f_l(x) - E_batch f_l(G(z)))^2. real_features, fake_features:
  sequences of [N, H_l, W_l, C_l] activations. (The official HingeEmbeddingLoss with
  target 1 is the plain mean of its input.)"""
  total = 0.0
  for real, fake in zip(real_features, fake_features, strict=True):
    total = total + jnp.mean(jnp.square(jnp.mean(real, axis=0) - jnp.mean(fake, axis=0)))
  return total


# ---------------------------------------------------------------- Fader Networks terms
def pairwise_attribute_loss(logits, labels, flip: bool = False):
  """The attribute loss of Fader Networks (Lample et al. 2017, eqs. 2 and 3; the official
  `get_attr_loss`): for each binary attribute k, the softmax cross-entropy of its logit
  pair logits[:, 2k:2k + 2] (column 2k: off, 2k + 1: on) against its label, averaged over
  the batch, summed over the K attributes:
    sum_k -mean_n log softmax(logits[n, 2k:2k + 2])[y_nk].
  logits [N, 2K]; labels [N, K] of 0/1 (a value > 0.5 is on). `flip` (the encoder's
  adversarial target, eq. 3): y_nk = 1 - label, the other value. (The official code draws
  a different category at random for attributes of more than two values; for a binary
  attribute that is always the other one.)"""
  n, k = labels.shape
  pairs = logits.reshape(n, k, 2)
  y = (labels > 0.5).astype(jnp.int32)
  if flip:
    y = 1 - y
  log_p = jax.nn.log_softmax(pairs.astype(jnp.promote_types(pairs.dtype, jnp.float32)), axis=-1)
  picked = jnp.take_along_axis(log_p, y[..., None], axis=-1)[..., 0]  # [N, K]
  return -jnp.sum(jnp.mean(picked, axis=0))


def linear_ramp(weight, step, ramp_steps: int):
  """A loss weight raised linearly from 0 (Fader Networks' `get_lambda`, the official
  `lambda_schedule`): weight * min(step, ramp_steps) / ramp_steps at iteration `step`
  (0-based: the number of iterations done before it); ramp_steps = 0 gives `weight` from
  the start."""
  if ramp_steps == 0:
    return weight
  return weight * jnp.minimum(jnp.asarray(step), ramp_steps) / ramp_steps


# ---------------------------------------------------------------- DualGAN terms
def sqrt_eps_gradient_penalty(critic: Callable[[jax.Array], jax.Array], x_hat, eps: float = 1e-8):
  """The WGAN-GP penalty with eps inside the root (Gulrajani et al. 2017, eq. 3, unweighted;
  the TensorFlow form of DualGAN's official code): E_n[(sqrt(eps + ||g_n||^2) - 1)^2] with
  g_n = d(sum D(x_hat)) / d x_hat_n, the squared norm over each sample's flattened gradient,
  averaged over the batch. Differentiable in the critic's parameters (double backprop).

  Args:
    critic: [N, H, W, C] -> scores of any shape (their sum is differentiated).
    x_hat: [N, H, W, C] points where the gradient is taken (`interpolate_samples`).
  """
  grads = jax.grad(lambda x: jnp.sum(critic(x)))(x_hat)
  grads = grads.astype(jnp.promote_types(grads.dtype, jnp.float32))
  sq = jnp.sum(jnp.square(grads.reshape(grads.shape[0], -1)), axis=1)
  return jnp.mean(jnp.square(jnp.sqrt(eps + sq) - 1.0))


# ---------------------------------------------------------------- GeneGAN terms
def parallelogram_loss(ax, be, bx, ae):
  """GeneGAN's parallelogram constraint (Zhou et al. 2017, sec. 3): the mean absolute value
  of Ax + Be - Bx - Ae over every element, i.e. the two originals and the two crossovers
  should form a parallelogram in pixel space (zero when swapping the attribute part adds
  and removes one fixed image). Four [N, H, W, C] arrays in one range (unweighted)."""
  return jnp.mean(jnp.abs(ax + be - bx - ae))


def mean_square_weight_decay(kernels, weight: float):
  """L2 decay in the form of GeneGAN's official `loss_G_decay`: sum over the kernels of
  0.5 * weight * mean(W^2) (the mean over each kernel's own elements, not a sum over them).
  `kernels`: a sequence (or pytree) of arrays."""
  return sum(0.5 * weight * jnp.mean(jnp.square(w)) for w in jax.tree_util.tree_leaves(kernels))


# ---------------------------------------------------------------- IcGAN terms
def torch7_bce(probs, target, eps: float = 1e-12):
  """Torch7's `nn.BCECriterion()` (THNN, sizeAverage) on probabilities: -mean(t log(p + eps)
  + (1 - t) log(1 - p + eps)) with eps = 1e-12 inside each log (not PyTorch's clamp at -100),
  averaged over every element. probs in [0, 1] (a network ending in a sigmoid, as IcGAN's
  discriminator); target 0/1, broadcast."""
  return -jnp.mean(target * jnp.log(probs + eps) + (1.0 - target) * jnp.log(1.0 - probs + eps))


# ---------------------------------------------------------------- DTN terms
def ternary_d_loss(fake_source_logits, fake_target_logits, real_target_logits):
  """The Domain Transfer Network's ternary discriminator loss (Taigman et al. 2017, eq. 3):
  L_D = -E_{x in s} log D_1(g(f(x))) - E_{x in t} log D_2(g(f(x))) - E_{x in t} log D_3(x),
  D_1..D_3 the softmax probabilities of the classes fake-from-source, fake-from-target and
  real-target. Each argument: [N, 3] logits (the batches may differ in size); each term is
  the softmax cross-entropy averaged over its batch; the result is their sum (>= 0)."""
  ce = lambda logits, k: jnp.mean(
      optax.softmax_cross_entropy_with_integer_labels(logits, jnp.full(logits.shape[:1], k)))
  return ce(fake_source_logits, 0) + ce(fake_target_logits, 1) + ce(real_target_logits, 2)


def ternary_g_loss(fake_source_logits, fake_target_logits):
  """DTN's generator adversarial loss L_GANG (Taigman et al. 2017, eq. 4): both kinds of
  fake are to be classed as real-target (class 2 of the ternary discriminator):
  -E_{x in s} log D_3(g(f(x))) - E_{x in t} log D_3(g(f(x))). [N, 3] logits each; the sum of
  the two batch-averaged softmax cross-entropies (>= 0)."""
  ce = lambda logits: jnp.mean(
      optax.softmax_cross_entropy_with_integer_labels(logits, jnp.full(logits.shape[:1], 2)))
  return ce(fake_source_logits) + ce(fake_target_logits)


def f_constancy_loss(features, translated_features):
  """DTN's f-constancy L_CONST (Taigman et al. 2017, eq. 5): sum over x in s of
  d(f(x), f(g(f(x)))) with d the squared error, here the mean over the batch and the feature
  elements (MSE). features, translated_features: [N, ...] f's outputs on the source images
  and on their translations; f(x) is a constant of the generator (f is frozen), so only
  `translated_features` carries a gradient to g."""
  return jnp.mean(jnp.square(jax.lax.stop_gradient(features) - translated_features))


def target_identity_loss(target_images, mapped_target_images):
  """DTN's target identity L_TID (Taigman et al. 2017, eq. 6): sum over x in t of
  d2(x, g(f(x))) with d2 the squared error, here the mean over every element (MSE): G must
  be the identity on target samples. [N, H, W, C] images in [-1, 1]; the target images are
  data (no gradient)."""
  return jnp.mean(jnp.square(jax.lax.stop_gradient(target_images) - mapped_target_images))


def total_variation_loss(images, beta: float = 1.0, eps: float = 1e-8):
  """DTN's total variation L_TV (Taigman et al. 2017, eq. 7, after Mahendran & Vedaldi):
  L_TV(z) = sum_{i,j} ((z_{i,j+1} - z_{i,j})^2 + (z_{i+1,j} - z_{i,j})^2)^(B/2), B = `beta`
  (1 in the paper), at the (H-1) x (W-1) positions that have both neighbours, per channel;
  here the mean over the batch, those positions and the channels. `eps` inside the power
  keeps the gradient finite where the image is flat. images: [N, H, W, C] (H, W >= 2)."""
  dx = images[:, :-1, 1:, :] - images[:, :-1, :-1, :]
  dy = images[:, 1:, :-1, :] - images[:, :-1, :-1, :]
  return jnp.mean((jnp.square(dx) + jnp.square(dy) + eps) ** (beta / 2.0))
