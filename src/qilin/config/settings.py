"""The typed recipe: every key a recipe may set, its type, default and meaning (the `help` metadata).

Each field's `help` is its documentation: it is what `qilin run --help` and `qilin train STAGE --help` print.
Reading YAML and overrides into these classes is `qilin.config.parsing`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from qilin.config.embedded import EmbeddedModelSettings, EmbeddedVisionSettings
from qilin.config.eval_settings import EvalSettings
from qilin.config.fields import help_field as _help
from qilin.config.retrieval import RagTrainingSettings

STAGE_ORDER = ("cpt", "sft", "dpo", "grpo", "vl_align", "vl_instruct")
VL_STAGES = ("vl_align", "vl_instruct")


@dataclass
class LoraSettings:
    """LoRA adapter shape (peft)."""

    r: int = _help("LoRA rank.", 8)
    alpha: int = _help("LoRA scaling numerator (scale = alpha / r).", 32)
    dropout: float = _help("Dropout on the LoRA input.", 0.05)
    target_modules: str | list[str] = _help(
        "Modules that get adapters: 'all-linear' (every linear layer except the output head) or a list "
        "of module names such as [q_proj, v_proj].",
        "all-linear",
    )


@dataclass
class ModelSettings:
    """The base model the first stage starts from."""

    path: str = _help(
        "A local Hugging Face causal-LM directory (Llama, Qwen, Baichuan, ...), or 'embedded' to build the "
        "tiny bundled model (see the `embedded` section).",
        "embedded",
    )
    if_missing: Literal["error", "embedded"] = _help(
        "When path does not exist: 'error', or 'embedded' to build the tiny model instead (the VL demo starts "
        "from the text demo's output when there is one).",
        "error",
    )
    trust_remote_code: bool = _help("Run the checkpoint's own Python code (Baichuan needs it).", False)
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = _help(
        "Dtype of saved outputs and of evaluation and serving; 'auto' is bfloat16 where the GPU supports it, else "
        "float32. An output a later stage starts from keeps float32 unless the stage trained in bf16-pure (see each "
        "stage's precision), so nothing a stage learned is rounded away between stages.",
        "auto",
    )
    chat_template: str | None = _help(
        "Named chat template ('chatml', 'llama2', 'vicuna') used when the tokenizer has none; if the "
        "tokenizer has one it wins unless this is set. The same template serves SFT, DPO, chat and serving.",
        None,
    )
    attn_implementation: Literal["auto", "sdpa", "eager", "flash_attention_2", "flex_attention"] = _help(
        "Attention kernel. 'auto': FlashAttention-2 on a CUDA GPU with the flash-attn package and 16-bit weights; "
        "else, for training on CUDA, flex_attention (packed rows get a per-document block mask, so blocks between "
        "documents are skipped); else 'sdpa' (everywhere, and for generation). Packed sequences never attend across "
        "documents with any of them.",
        "auto",
    )


@dataclass
class TrainSettings:
    """Knobs every training stage shares."""

    data: list[str] = _help(
        "Input files. Local paths, or 'embedded:PART' for the bundled miniature ChiMed (PART: cpt, sft, dpo) or "
        "ChiMed-VL (PART: vl-captions, vl-train).",
        [],
    )
    epochs: float = _help("Passes over the data.", 1.0)
    max_steps: int = _help("Stop after this many optimizer steps; -1 means run all epochs.", -1)
    learning_rate: float = _help("Peak learning rate.", 2e-5)
    lr_scheduler: str = _help("transformers scheduler name: cosine, linear, constant, ...", "cosine")
    warmup_ratio: float = _help("Fraction of steps for linear warmup.", 0.03)
    weight_decay: float = _help("AdamW weight decay.", 0.0)
    batch_size: int = _help("Sequences per device per micro-batch.", 4)
    grad_accum: int = _help("Micro-batches per optimizer step (global batch = batch_size x grad_accum x GPUs).", 1)
    gradient_checkpointing: bool | Literal["auto"] = _help(
        "Recompute activations in backward to save memory (about a third more compute). 'auto': only when the "
        "estimated weights, optimizer state and activations would not fit the GPU (never on a CPU); the choice is "
        "printed.",
        "auto",
    )
    liger_kernels: bool = _help(
        "Liger's fused Triton kernels (RMSNorm, RoPE, SwiGLU, fused linear cross-entropy): less memory and more "
        "tokens/s on NVIDIA GPUs. Needs `pip install liger-kernel`; Llama, Qwen, Mistral, Gemma architectures.",
        False,
    )
    save_steps: int = _help("Write a resumable checkpoint every N optimizer steps.", 200)
    save_total_limit: int = _help("Checkpoints kept on disk (oldest deleted first).", 2)
    logging_steps: int = _help("Log loss to TensorBoard and the console every N steps.", 10)
    fit_batch_to_memory: bool = _help(
        "On a GPU, measure a forward and backward on one and on two rows and split batch_size x grad_accum (kept) "
        "into the largest micro-batch that fits; the choice is printed (SFT and CPT; no effect on a CPU).",
        True,
    )
    torch_compile: bool = _help(
        "Compile the model with torch.compile (Trainer's torch_compile): faster steps on GPUs after a compile of a "
        "minute or more; measure it on your model (benchmarks/gpu_throughput.py --compile) before relying on it.",
        False,
    )
    seed: int = _help("Seed for data order, dropout and LoRA init.", 42)
    report_to: list[str] = _help(
        "Trackers the Trainer also logs to (transformers' names: mlflow, wandb, ...), runs named RUN-STAGE; the "
        "stage's own TensorBoard is always written.", [])  # fmt: skip
    precision: Literal["auto", "fp32", "bf16-mixed", "bf16-pure"] = _help(
        "'bf16-mixed': trainable weights, gradients and AdamW state in fp32, compute under bf16 autocast (a LoRA "
        "stage's frozen base stays bf16). 'fp32': everything fp32. 'bf16-pure': everything bf16, half the state of "
        "mixed, but updates below half a bf16 step are rounded away (warned). 'auto': bf16-mixed on a GPU with bf16, "
        "fp32 on a CPU.",
        "auto",
    )


@dataclass
class FinetuneSettings(TrainSettings):
    """A stage that trains the LLM: LoRA adapters or every weight."""

    finetune: Literal["lora", "full"] = _help(
        "'lora' trains adapters and merges them before the next stage; 'full' trains every weight.", "lora"
    )
    lora: LoraSettings = _help("LoRA settings (used when finetune is 'lora').", default_factory=LoraSettings)


@dataclass
class CptSettings(FinetuneSettings):
    """Domain-specific continued pre-training on plain text, packed into blocks."""

    block_size: int = _help("Tokens per packed training block.", 1024)
    tokenize_processes: int = _help(
        "Worker processes that tokenize the corpus (0: one per CPU, at most 8; 1: no workers). The packed result "
        "is the same whatever the number.",
        0,
    )
    replay: float = _help(
        "Share of general text replayed during DCPT against forgetting, as a fraction of the packed blocks of "
        "block_size tokens (so, of training tokens) in each epoch: 0.1 adds 1 general block per 9 domain blocks, "
        "drawn from replay_data's blocks (cycled if too few). The domain corpus is always seen whole. 0: none.",
        0.0,
    )
    replay_data: list[str] = _help(
        "General text files replayed when replay > 0 ('embedded:general': the bundled general corpus); logged as "
        "loss/<file stem> beside the domain sources' losses.",
        [],
    )


@dataclass
class SftSettings(FinetuneSettings):
    """Supervised fine-tuning on conversations; loss on assistant turns only."""

    max_length: int = _help(
        "Conversations longer than this many tokens are truncated; with packing, the length of a packed row.", 1024
    )
    packing: bool = _help(
        "Pack whole conversations into rows of max_length tokens (no attention between them, no padding wasted); "
        "batch_size then counts rows. Needs a transformers architecture: set false for trust_remote_code models.",
        True,
    )
    group_by_length: bool = _help("Without packing: batch conversations of similar length (less padding).", True)
    tokenize_processes: int = _help(
        "Most worker processes that tokenize the conversations: one per 4,096 conversations, none if that makes "
        "fewer than 3 (0: one per CPU, at most 8; 1: no workers). The examples are the same whatever the number.",
        0,
    )
    rag: RagTrainingSettings = _help("Retrieval-aware SFT (off by default).", default_factory=RagTrainingSettings)


@dataclass
class DpoSettings(FinetuneSettings):
    """Direct Preference Optimization with trl's DPOTrainer."""

    beta: float = _help("DPO temperature: higher keeps the policy closer to the reference.", 0.1)
    max_length: int = _help("Prompt + response longer than this many tokens are truncated.", 1024)
    cache_reference: bool = _help(
        "Score every pair with the reference model once before training and keep those log-probs on disk "
        "(<run_dir>/cache/dpo_ref), so no step, later epoch, rerun or resumed run repeats the reference forward "
        "pass, and full fine-tuning holds no second copy of the model. Off: the reference scores each batch.",
        True,
    )
    packing: bool = _help(
        "Packed shared-prefix DPO: each pair is one sequence, prompt then chosen then rejected, the answers "
        "attending to the prompt and themselves only, several pairs per row, so every prompt runs once and no "
        "padding is computed. Needs the sdpa, eager or flex_attention kernel and a transformers architecture: with "
        "FlashAttention-2 or trust_remote_code the stage says so and runs trl's padded pairs.",
        True,
    )
    pack_row_tokens: int = _help(
        "With packing, most tokens in one packed row (pairs per step stay batch_size; a longer pair gets a row of "
        "its own). 0: as long as the batch's longest pair with a dense mask (sdpa, eager: attention cost grows with "
        "the square of the row, and rows are padded to that length anyway), one row per batch with "
        "flex_attention's block mask.",
        0,
    )


@dataclass
class GrpoSettings(FinetuneSettings):
    """Reinforcement learning with verifiable rewards (GRPO, trl's GRPOTrainer) on multiple-choice problems."""

    prompt_style: Literal["exam", "cloze"] = _help(
        "'exam': the generation-mode exam turn (instruction, the options, '答案：') through the chat template, the "
        "answer read as letters or option text; 'cloze': the plain '{question}\\n答案：' the log-likelihood exam "
        "scores options after, no options shown, the reply credited when it names the right option's text.",
        "exam",
    )
    rewards: dict[str, float] = _help(
        "Weight of each reward (qilin.rl.rewards): correctness (the extracted answer set equals the answer), format "
        "(an answer can be extracted), abstention (the reply says 不确定 and names no option; 0: off).",
        {"correctness": 1.0, "format": 0.1, "abstention": 0.0},
    )
    num_generations: int = _help("Completions sampled per problem (the group G).", 4)
    max_new_tokens: int = _help("Longest completion in tokens.", 64)
    temperature: float = _help("Sampling temperature of the rollouts.", 1.0)
    beta: float = _help(
        "KL coefficient against the reference (the starting model; with LoRA the policy with its adapter disabled, so "
        "no second copy). 0 skips the reference forward pass and logs no KL.",
        0.04,
    )
    loss_type: Literal["grpo", "dr_grpo", "dapo", "bnpo", "cispo", "sapo"] = _help(
        "trl's loss aggregation: 'dapo' (tokens of the whole accumulated batch), 'grpo' (per sequence, length-biased), "
        "'dr_grpo' (a constant), 'bnpo', 'cispo', 'sapo' (see trl's GRPOConfig.loss_type).",
        "dapo",
    )
    epsilon: float = _help("Clipping range of the policy ratio.", 0.2)
    scale_rewards: Literal["group", "batch", "none"] = _help(
        "Divide advantages by the reward's standard deviation in the group, the batch, or not at all (Dr. GRPO).",
        "group",
    )
    rollouts: Literal["auto", "transformers", "vllm"] = _help(
        "Who generates the completions: 'transformers' (generate, everywhere), 'vllm' (trl's colocate mode: vLLM in "
        "the training process, needs vllm and a GPU), 'auto' (vllm when it is installed and a GPU is present). The log "
        "says which.",
        "auto",
    )
    packing: bool = _help(
        "Prompt once per group: the G completions of a problem laid out as prompt | completion 1 | ... | completion G "
        "in one sequence, each seeing the prompt and itself, so the policy and reference forwards compute every prompt "
        "once (same log-probs and loss as trl's rows). Needs the sdpa, eager or flex_attention kernel and a "
        "transformers architecture: otherwise the stage says so and runs trl's rows.",
        True,
    )
    kinds: list[str] = _help(
        "Train only on problems of these kinds (the records' `kind`, e.g. department, system, diagnosis: a fact with "
        "one right answer a small model can name); empty: every problem.",
        [],
    )
    max_problems: int = _help("Train on a fixed random subset of this many problems; 0: all.", 0)
    batch_size: int = _help("Completions per device per micro-batch (a multiple of num_generations).", 8)


@dataclass
class VLStageSettings(TrainSettings):
    """A vision-language stage: image + conversation records; the vision tower is always frozen."""

    images: str | None = _help(
        "Folder that relative image paths in the data resolve against (default: the data file's folder).", None
    )
    format: Literal["auto", "vl", "caption", "pmcvqa"] = _help(
        "Data format: LLaVA-style JSON ('vl'), image-caption pairs ('caption'), PMC-VQA CSV ('pmcvqa'); "
        "'auto' picks by file type and fields.",
        "auto",
    )
    max_length: int = _help("Tokens per example, image tokens included; longer examples are dropped.", 512)
    skip_bad_images: bool = _help(
        "Skip and count records whose image is missing or corrupt instead of stopping.", False
    )


@dataclass
class VLAlignSettings(VLStageSettings):
    """Stage 1, feature alignment: image-caption pairs; only the projector trains (no finetune or lora keys)."""


@dataclass
class VLInstructSettings(FinetuneSettings, VLStageSettings):
    """Stage 2, instruction tuning: image-question-answer conversations; projector and LLM train."""

    packing: bool = _help(
        "Pack whole image conversations into rows of max_length tokens, images and all (no attention between "
        "them); batch_size then counts rows. Off by default: the VL demo was tuned unpacked.",
        False,
    )


@dataclass
class StagesSettings:
    """The stages to run, always in the order cpt -> sft -> dpo -> grpo -> vl_align -> vl_instruct; leave one out."""

    cpt: CptSettings | None = _help("Domain-specific continued pre-training.", None)
    sft: SftSettings | None = _help("Supervised fine-tuning.", None)
    dpo: DpoSettings | None = _help("Direct preference optimization.", None)
    grpo: GrpoSettings | None = _help(
        "Reinforcement learning with verifiable rewards on multiple-choice problems.", None
    )
    vl_align: VLAlignSettings | None = _help("VL stage 1: align the projector on image-caption pairs.", None)
    vl_instruct: VLInstructSettings | None = _help("VL stage 2: instruction-tune on image conversations.", None)


@dataclass
class VisionSettings:
    """The vision side of a Qilin-Med-VL model (used by the vl_* stages)."""

    path: str = _help(
        "Local Hugging Face vision encoder (CLIP vision, SigLIP, ViT) or a full CLIP/SigLIP checkpoint, or "
        "'embedded' to pre-train the tiny demo ViT (CLIP-style) on synthetic scans.",
        "embedded",
    )
    projector: Literal["linear", "mlp"] = _help(
        "'linear' as the Qilin-Med-VL paper describes, or 'mlp' (LLaVA-1.5's 2-layer GELU MLP, exportable "
        "to transformers' LLaVA layout).",
        "linear",
    )
    feature_layer: int = _help("Vision hidden layer fed to the projector (-2: LLaVA-1.5's choice).", -2)


ENGINES = ("ddp", "fsdp", "zero2", "zero3")


@dataclass
class LaunchSettings:
    """How `qilin run` starts its processes: in this process, or under torchrun / accelerate launch."""

    launcher: Literal["none", "torchrun", "accelerate"] = _help(
        "'none' runs in this process (one CPU or GPU); 'torchrun' starts DDP processes; 'accelerate' starts "
        "processes with the engine below (DDP, FSDP, DeepSpeed ZeRO).",
        "none",
    )
    engine: str = _help(
        "With launcher 'accelerate': a shipped engine (ddp, fsdp = full shard, zero2, zero3; see "
        "qilin/resources/accelerate/) or the path of your own accelerate config file. torchrun runs ddp.",
        "ddp",
    )
    processes: int = _help("Processes per machine (one per GPU); 0 means one per GPU of this machine.", 0)
    machines: int = _help("Machines taking part; run the same command on each with its own machine_rank.", 1)
    machine_rank: int = _help("This machine's rank, 0 .. machines-1 (0 is the main machine).", 0)
    main_address: str = _help("Address of machine 0, reachable from every machine.", "127.0.0.1")
    main_port: int = _help("A free TCP port on machine 0.", 29500)


@dataclass
class Recipe:
    """A whole Qilin-Med run: a base model and the stages that turn it into a medical model."""

    name: str = _help("Recipe name; the run directory defaults to runs/<name>.", "run")
    model: ModelSettings = _help("Base model.", default_factory=ModelSettings)
    embedded: EmbeddedModelSettings = _help(
        "Tiny model built when model.path is 'embedded'.", default_factory=EmbeddedModelSettings
    )
    general_pretrain: CptSettings | None = _help(
        "Pre-train the embedded base on general text before DCPT, with any CPT key (data: [embedded:general] is "
        "the bundled general corpus), so a forgetting check (the general exam in eval.benchmarks) has general "
        "knowledge to lose. Cached "
        "in $QILIN_CACHE/general-base by its inputs: paid once. Unset: the base stays randomly initialised. Only "
        "for model.path 'embedded' (a real base model already knows general text).",
        None,
    )
    vision: VisionSettings = _help("Vision tower and projector of the VL stages.", default_factory=VisionSettings)
    embedded_vision: EmbeddedVisionSettings = _help(
        "Tiny ViT pre-trained when vision.path is 'embedded'.", default_factory=EmbeddedVisionSettings
    )
    stages: StagesSettings = _help("Training stages.", default_factory=StagesSettings)
    eval: EvalSettings = _help("Evaluation after every stage.", default_factory=EvalSettings)
    launch: LaunchSettings = _help(
        "Processes, machines and training engine (see docs/scaling.md).", default_factory=LaunchSettings
    )

    def enabled_stages(self) -> list[tuple[str, TrainSettings]]:
        """(name, settings) of the stages this recipe runs, in pipeline order."""
        return [(n, getattr(self.stages, n)) for n in STAGE_ORDER if getattr(self.stages, n) is not None]
