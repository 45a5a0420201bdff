"""vLLM's OpenAI server as a managed subprocess behind `qilin serve --engine vllm`.

The command line says everything that must match training instead of leaving it to vLLM's defaults: the chat
template is passed explicitly (the tokenizer's own, written to a file), the model is served under the stage's
name, and a LoRA adapter directory is served as a LoRA module on top of its base. vLLM is an optional extra
(`pip install qilin[vllm]`, a CUDA machine); this module only builds the command and runs the process.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx

from qilin.log import get_logger

log = get_logger(__name__)


def vllm_command(model_dir: str | Path, served_name: str, port: int, chat_template: Path,
                 dtype: str = "auto", max_model_len: int | None = None,
                 extra: list[str] | None = None) -> list[str]:  # fmt: skip
    """The `vllm serve` command line for a stage output or a LoRA adapter directory, on loopback."""
    model_dir = Path(model_dir)
    command = [sys.executable, "-m", "vllm.entrypoints.openai.api_server"]
    adapter = model_dir / "adapter_config.json"
    if adapter.exists():  # an adapter: its base is the model, the adapter a LoRA module under the stage's name
        config = json.loads(adapter.read_text(encoding="utf-8"))
        base = config["base_model_name_or_path"]
        command += ["--model", str(base), "--served-model-name", f"{served_name}-base", "--enable-lora"]
        command += ["--lora-modules", f"{served_name}={model_dir}", "--max-lora-rank", str(config.get("r", 16))]
        tokenizer = model_dir if (model_dir / "tokenizer_config.json").exists() else Path(base)
        command += ["--tokenizer", str(tokenizer)]
    else:
        command += ["--model", str(model_dir), "--served-model-name", served_name]
    command += ["--chat-template", str(chat_template), "--host", "127.0.0.1", "--port", str(port), "--dtype", dtype]
    if max_model_len:
        command += ["--max-model-len", str(max_model_len)]
    return command + list(extra or [])


def write_chat_template(model_dir: str | Path, out: Path) -> Path:
    """The training chat template (the tokenizer's, as saved with the stage) written where vLLM reads it."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    if not tokenizer.chat_template:
        raise ValueError(f"{model_dir} has no chat template; a Qilin stage output always saves one")
    out.write_text(tokenizer.chat_template, encoding="utf-8")
    return out


class ManagedServer:
    """A server subprocess started with a command, waited for until /health answers, stopped on exit."""

    def __init__(self, command: list[str], port: int, log_file: Path, start_timeout: float = 900):
        self.url = f"http://127.0.0.1:{port}/v1"
        self.log_file = log_file
        log.info(f"starting the backend: {' '.join(command)} (its log: {log_file})")
        with open(log_file, "ab") as sink:
            self.process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + start_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = log_file.read_text(encoding="utf-8", errors="replace")[-3000:]
                raise RuntimeError(
                    f"the backend exited with code {self.process.returncode} before it answered:\n{tail}"
                )
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(1)
        self.stop()
        raise RuntimeError(f"the backend did not answer /health within {start_timeout:.0f} s (see {log_file})")

    def stop(self) -> None:
        """Terminate the process (kill it after 30 s)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
