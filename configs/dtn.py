"""Domain Transfer Network (DTN) configurations.

`configs/dtn.py` (no argument, = `:svhn_mnist`) is the paper's digits setting
(Taigman, Polyak, Wolf, "Unsupervised Cross-Domain Image Generation", ICLR
2017, sec. 5.1): SVHN -> MNIST at 32x32 from prepared TFDS sets
(`svhn_cropped`, its "extra" split both to pretrain f on the labels and as
the unlabelled source s; `mnist` "train" as the target t; set
--config.data.tfds_data_dir; nothing is downloaded). The paper's networks
(`i2ijax.models.dtn`): f (64-128-256-128 convs, max pool, ReLU; 128-D) with a
softmax head, g (four deconvolutions, batch norm + ReLU, tanh), the ternary D
(four batch-normalised convs, ReLU). Losses with the paper's digit weights:
L_D ternary; L_G = L_GANG + alpha L_CONST + beta L_TID + gamma L_TV with
alpha = beta = 15, gamma = 0 (the faces setting's weights are alpha 100,
beta 1, gamma 0.05: --config.model.alpha=100 --config.model.beta=1
--config.model.gamma=0.05). Adam 3e-4 with TF's defaults (0.9, 0.999), batch
100, f pretrained for 20,000 iterations, as the reimplementation
yunjey/domain-transfer-network (which has no other official settings).

Translation (`translate`, `evaluate`) normalises g with batch-norm
statistics re-estimated on 1,024 source training images
(`model.eval_stats = "source"`, `train.dtn.source_statistics`): training runs
g on source and on target batches in separate calls, each normalised by its
own batch, so the running averages mix two feature scales (f's features on
the target digits are about twice as large) and fit neither side;
`"running"` keeps them. The paper says nothing of this.

What differs from the reimplementation (which follows the paper less
closely), and why it is not followed here:
- its D is binary (real / fake) and trained in two separate phases (source:
  1 D step and 6 G steps on the GAN + 15 x L_CONST; target: 2 D steps and 4 G
  steps on the GAN + 15 x L_TID, each phase with its own Adams); here the
  paper's single ternary D and one combined L_D / L_G, one D step then one G
  step per iteration (the paper gives no step ratio);
- it keeps training f during DTN training (an Adam step of f on 15 x L_CONST
  every 15th, later 30th, iteration); the paper's f is fixed, as here;
- its f has stride-2 convs with batch norm and a 4x4 VALID last conv ending
  in batch norm + tanh; the paper's f is conv, max pool, ReLU (here 3x3 convs,
  a max pool over the last 4x4 map) without norms;
- its D applies ReLU before and after its first batch norm; here conv, batch
  norm, ReLU as the other layers;
- it trains the DTN on SVHN "train" and its f on "extra"; the paper uses
  "extra" for both (`data.source_split`);
- its G takes 6 (source) and 2 (target) steps per D step; the paper states no
  ratio: `model.g_steps` (g updates per iteration after the D update) is 1;
- 2,000 reimplementation iterations (each of 13 sub-steps) are here 20,000
  iterations of one D and one G step after the 20,000 of f (not stated in the
  paper).
Transposed convolutions align as PyTorch's (padding 1, output padding 1), not
as TF's 'SAME' (one pixel shift; not a paper fact). TF Adam's epsilon sits
outside the bias correction (torch's inside); with 1e-8 the steps differ
only where gradients are tiny.

Presets (`configs/dtn.py:NAME`):
  svhn_mnist   the default above.
  quickstart   the embedded digits (`i2ijax.data.digits`: scikit-learn's 8x8
               digits rendered as colour street-number-like RGB images, the
               source, 16 renderings of each training digit, and as MNIST-like
               grey strokes, the target, disjoint images), networks of a
               quarter to half the widths (f 32-64-64-64, g 128-64-32, D
               16-32-64), batch 32, 1,000 iterations of f pretraining (f_lr
               1e-3: at 3e-4 the small f barely leaves chance in that time),
               then 700 DTN iterations of one D step and 2 g steps (the
               reimplementation's remedy for a D that wins; with one g step
               the D is at 99% accuracy within a few hundred iterations), and
               alpha = 1 (L_CONST) instead of 15. With one rendering per digit
               f learns the 719 training images and reads only 63% of the
               held-out source digits (93% with 16). At alpha 15 the
               f-constancy term outweighs L_TID, and g learns to draw noise
               that f reads as the digit (f's reading of the translations 59%,
               a classifier of the target digits' 32%; at alpha 1: 62% and
               54%). `python -m i2ijax.evaluate` scores the accuracy of a digit
               classifier fitted on the target training images on the
               translated held-out source images, against the same classifier
               on the untranslated images (converted to grey) and chance
               (10%).
"""

import ml_collections

from i2ijax.config_defaults import add_run_settings


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.model_name = "dtn"
  c.seed = 0
  c.batch_size = 100
  c.num_train_steps = 40000  # f_pretrain_steps of f, then the DTN iterations

  c.data = ml_collections.ConfigDict()
  c.data.source = "tfds"  # tfds | embedded
  c.data.tfds_data_dir = ""
  c.data.source_tfds = "svhn_cropped"
  c.data.target_tfds = "mnist"
  c.data.source_split = "extra"  # training split of the source (f and s); held out: "test"
  c.data.source_channels = 3
  c.data.target_channels = 1
  c.data.crop_size = 32
  c.data.source_renderings = 1  # embedded: source-style renderings of each training digit
  c.data.prefetch = 2

  c.model = ml_collections.ConfigDict()
  c.model.f_widths = (64, 128, 256, 128)  # the last is the feature size (128-D)
  c.model.g_widths = (512, 256, 128)
  c.model.d_widths = (128, 256, 512)
  c.model.f_pretrain_steps = 20000  # iterations of f's softmax pretraining before the DTN
  c.model.g_steps = 1  # g updates per iteration, after the D update (not stated in the paper)
  c.model.alpha = 15.0  # L_CONST
  c.model.beta = 15.0  # L_TID
  c.model.gamma = 0.0  # L_TV
  c.model.tv_exponent = 1.0  # the B of L_TV
  c.model.eval_stats = "source"  # g's batch-norm statistics when translating: source | running
  c.model.param_dtype = "float32"
  c.model.dtype = "float32"

  c.optimizer = ml_collections.ConfigDict()
  c.optimizer.name = "adam"
  c.optimizer.lr = 3e-4  # g and D
  c.optimizer.f_lr = 3e-4  # f's pretraining
  c.optimizer.beta1 = 0.9
  c.optimizer.beta2 = 0.999
  c.optimizer.weight_decay = 0.0
  c.optimizer.lr_policy = "constant"
  c.optimizer.n_epochs = 1
  c.optimizer.n_epochs_decay = 0
  c.optimizer.epoch_count = 1
  add_run_settings(c)
  c.eval_classifier_steps = 500  # the target-domain classifier of `evaluate`
  c.log_every_steps = 100
  c.sample_every_steps = 1000
  c.checkpoint_every_steps = 2000

  if arg in (None, "", "paper", "svhn_mnist"):
    return c
  if arg == "quickstart":
    c.data.source = "embedded"
    c.model.f_widths = (32, 64, 64, 64)
    c.model.g_widths = (128, 64, 32)
    c.model.d_widths = (16, 32, 64)
    c.data.source_renderings = 16
    c.model.g_steps = 2
    c.model.alpha = 1.0
    c.model.f_pretrain_steps = 1000
    c.optimizer.f_lr = 1e-3
    c.batch_size = 32
    c.num_train_steps = 1700
    c.eval_classifier_steps = 400
    c.log_every_steps = 50
    c.sample_every_steps = 300
    c.checkpoint_every_steps = 500
    return c
  raise ValueError(f"unknown dtn preset {arg!r}; valid: svhn_mnist (the default), quickstart")
