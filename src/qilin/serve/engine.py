"""The model behind `qilin serve`: requests batched into one `generate` call, tokens streamed back per request.

Batching uses transformers' own `generate` with small hooks instead of a decoding loop of our own (see
decoding.py): a streamer that receives every step's tokens for the whole batch (transformers' TextStreamer
refuses batches), a logits processor that keeps log-probs and applies penalties, and a stopping criterion that
ends each row when its request is done. A row that stops early just idles until the batch ends.

Why not `qilin.models.generation.generate_vl_texts`, which chat and VQA evaluation use: that one returns whole
replies, greedy, after the batch ends, while a server streams each row as it grows, samples per request and stops
rows one by one. What must agree is shared instead: prompts come from `vl_prompt_ids` (the image placed and
expanded as in training), pixel values from `image_pixels`, and a turn ends at the same `end_of_turn_ids`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from transformers import AutoConfig, LogitsProcessorList, StoppingCriteriaList

from qilin.chat_templates import end_of_turn_ids, render_prompt, stop_strings
from qilin.config import ModelSettings
from qilin.serve.decoding import BatchStreamer, Job, Row, RowsDone, StepScores, token_entry

__all__ = ["ChatEngine", "Job"]


class ChatEngine:
    """A loaded text or VL model that turns chat messages into jobs and runs batches of them."""

    def __init__(self, model_dir: str | Path, settings: ModelSettings | None = None):
        import qilin.models.vl  # noqa: F401  (registers qilin_vl with AutoConfig)
        from qilin.models.loading import check_model_dir, for_inference, load_model, load_tokenizer

        settings = settings or ModelSettings(path=str(model_dir))
        self.model_dir = Path(model_dir)
        config = AutoConfig.from_pretrained(check_model_dir(model_dir), trust_remote_code=settings.trust_remote_code)
        self.is_vl = config.model_type == "qilin_vl"
        if self.is_vl:
            from qilin.models.vision import load_vl_model

            self.model, self.tokenizer, self.processor = load_vl_model(model_dir, settings, safetensors_only=True)
            self.context = self.model.config.text_config.max_position_embeddings
            generation_config = self.model.language_model.generation_config
        else:
            self.tokenizer = load_tokenizer(model_dir, settings)
            self.model = load_model(model_dir, settings, safetensors_only=True)
            self.processor = None
            self.context = getattr(config, "max_position_embeddings", None) or self.tokenizer.model_max_length
            generation_config = self.model.generation_config
        self.model = for_inference(self.model)
        self.eos_ids = end_of_turn_ids(self.tokenizer, generation_config.eos_token_id)
        self.template_stops = stop_strings(self.tokenizer)

    def prompt_ids(self, messages: list[dict[str, str]], has_image: bool) -> list[int]:
        """Token ids the model sees before answering: the training chat template, image tokens expanded."""
        if has_image:
            from qilin.data.vision.dataset import vl_prompt_ids

            return vl_prompt_ids(self.tokenizer, messages, self.model.config.image_token_index, self.image_tokens)
        return self.tokenizer(render_prompt(self.tokenizer, messages), add_special_tokens=False)["input_ids"]

    @property
    def image_tokens(self) -> int:
        """Positions one image takes in the prompt."""
        return self.model.num_image_tokens if self.is_vl else 0

    @torch.no_grad()
    def prompt_logprobs(self, ids: list[int], top: int) -> list[dict]:
        """Each prompt token's entry under the model given the tokens before it (the first has no log-prob)."""
        logits = self.model(input_ids=torch.tensor([ids], device=self.model.device)).logits[0]  # (T, V)
        logprobs = torch.log_softmax(logits.float(), dim=-1)
        entries = [token_entry(self.tokenizer, ids[0], None, 0)]
        entries += [token_entry(self.tokenizer, t, logprobs[i], top) for i, t in enumerate(ids[1:])]
        return entries

    @torch.no_grad()
    def run_batch(self, jobs: list[Job]) -> None:
        """Generate for jobs sharing a sampling key, streaming each choice's text through its job's `emit`."""
        try:
            for job in jobs:
                if job.prompt_logprobs is not None and not self.is_vl:
                    job.emit("prompt", 0, self.prompt_logprobs(job.prompt_ids, job.prompt_logprobs))
            rows = [Row(job, i, self.tokenizer, self.eos_ids) for job in jobs for i in range(job.n)]
            for row in rows:
                if row.job.max_tokens == 0:  # an echo of the prompt's log-probs only
                    row.finish("length")
            if all(row.done for row in rows):
                return
            self._generate(rows)
        except Exception as e:  # one bad batch must not take the server down; its requests learn why
            for job in jobs:
                job.emit("error", 0, f"{type(e).__name__}: {e}")
            return

    def _generate(self, rows: list[Row]) -> None:
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
        width = max(len(r.job.prompt_ids) for r in rows)
        ids = torch.full((len(rows), width), pad, dtype=torch.long)  # (B, T), left-padded
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            ids[i, width - len(row.job.prompt_ids) :] = torch.tensor(row.job.prompt_ids)
            mask[i, width - len(row.job.prompt_ids) :] = 1
        first = rows[0].job
        sampling = (
            {"do_sample": True, "temperature": first.temperature, "top_p": first.top_p}
            if first.temperature > 0
            else {"do_sample": False}
        )
        # the VL model generates from embeddings: the ids the processors see are the new tokens only
        scores = StepScores(rows, 0 if first.image is not None else width, self.model.device)
        kwargs: dict[str, Any] = {
            "attention_mask": mask.to(self.model.device),
            "max_new_tokens": max(r.job.max_tokens for r in rows),
            "pad_token_id": pad,
            "use_cache": True,  # load_model turns the cache off for training
            "streamer": BatchStreamer(rows, scores),
            "logits_processor": LogitsProcessorList([scores]),
            "stopping_criteria": StoppingCriteriaList([RowsDone(rows)]),
            **sampling,
        }
        with torch.random.fork_rng(devices=[]):  # a seed decides this batch and leaves the global generator alone
            if first.seed is not None:
                torch.manual_seed(first.seed)
            if first.image is not None:
                from qilin.data.vision.dataset import image_pixels

                pixels = image_pixels(self.processor, [r.job.image for r in rows]).to(self.model.device)
                self.model.generate(input_ids=ids.to(self.model.device), pixel_values=pixels, **kwargs)
            else:
                self.model.generate(input_ids=ids.to(self.model.device), **kwargs)
        for row in rows:
            row.finish("length")
