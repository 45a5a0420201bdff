"""Several processes, one recipe: the launch command, and which process writes what.

`qilin run` with `launch.launcher` set starts itself again under torchrun or accelerate launch; every
process then runs the same pipeline. Training is shared (the Trainer wraps the model in DDP, FSDP or
DeepSpeed from the environment the launcher set); everything that writes files (the embedded data and
model, the manifest, evaluations, stage outputs) runs on the main process while the others wait, and
then finds it done.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from importlib import resources
from pathlib import Path
from typing import Any

from qilin.config import ENGINES, LaunchSettings
from qilin.log import get_logger

log = get_logger(__name__)

# Main-process work (evaluating a 7B model on CMExam, merging and saving it) can outlast the default
# collective timeout (10 minutes for NCCL) while the other processes wait at a barrier.
WAIT_TIMEOUT = timedelta(hours=6)


def inside_launcher() -> bool:
    """True in a process that torchrun or accelerate launch started (even alone): it must not launch again."""
    return "LOCAL_RANK" in os.environ


def is_launched() -> bool:
    """True in one of several processes started by torchrun or accelerate launch."""
    return inside_launcher() and int(os.environ.get("WORLD_SIZE", "1")) > 1


def engine_config(engine: str) -> Path:
    """The accelerate config file of a shipped engine name, or the user's own file."""
    if engine in ENGINES:
        return Path(str(resources.files("qilin") / "resources" / "accelerate" / f"{engine}.yaml"))
    return Path(engine).expanduser()


def launch_command(launch: LaunchSettings, argv: list[str]) -> list[str]:
    """The command that runs `qilin ARGV` in every process of this machine under the chosen launcher."""
    qilin = ["-m", "qilin.cli", *argv]
    if launch.launcher == "torchrun":
        return [
            sys.executable,
            "-m",
            "torch.distributed.run",
            f"--nproc-per-node={launch.processes or 'gpu'}",
            f"--nnodes={launch.machines}",
            f"--node-rank={launch.machine_rank}",
            f"--master-addr={launch.main_address}",
            f"--master-port={launch.main_port}",
            *qilin,
        ]
    per_machine = launch.processes or _gpu_count()
    return [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        f"--config_file={engine_config(launch.engine)}",
        f"--num_processes={per_machine * launch.machines}",  # accelerate counts processes over all machines
        f"--num_machines={launch.machines}",
        f"--machine_rank={launch.machine_rank}",
        f"--main_process_ip={launch.main_address}",
        f"--main_process_port={launch.main_port}",
        *qilin,
    ]


def _gpu_count() -> int:
    import torch

    return max(torch.cuda.device_count(), 1)


def init_processes() -> None:
    """Join the process group early (with a long timeout) so the pipeline can coordinate before training."""
    if is_launched():
        import torch
        from accelerate import PartialState

        if not torch.cuda.is_available():
            # Without this, accelerate leaves torchrun's CPU processes unconnected (DistributedType.NO) and each
            # trains on all the data alone; the Trainer re-creates accelerate's state and reads this variable.
            os.environ["ACCELERATE_USE_CPU"] = "true"
        PartialState(cpu=not torch.cuda.is_available(), timeout=WAIT_TIMEOUT)


def is_main_process() -> bool:
    """True in a single-process run and in process 0 of a launched run."""
    return int(os.environ.get("RANK", "0")) == 0


def wait_for_everyone() -> None:
    """A barrier across processes; nothing in a single-process run."""
    if is_launched():
        from accelerate import PartialState

        PartialState().wait_for_everyone()


@contextmanager
def main_process_first() -> Iterator[None]:
    """The main process runs the block first (building, writing); the others run it after, finding it done."""
    if not is_main_process():
        wait_for_everyone()
    yield
    if is_main_process():
        wait_for_everyone()


def use_fsdp_on_cpu(trainer: Any) -> None:
    """Shard with FSDP2 on CPU processes when the engine asks for FSDP.

    accelerate 1.15 turns an FSDP config into plain DDP when the processes have no GPU (state.py only
    upgrades multi-accelerator runs to FSDP), silently. torch's FSDP2 itself shards on CPU over gloo, so we
    set accelerate's state to FSDP with the plugin the launcher described, before the Trainer wraps the
    model. This is how the FSDP path (sharded training, consolidated save) is tested on CPU-only machines.
    """
    from accelerate.state import PartialState
    from accelerate.utils import DistributedType, FullyShardedDataParallelPlugin

    state = trainer.accelerator.state
    if os.environ.get("ACCELERATE_USE_DEEPSPEED", "false").lower() == "true" and state.distributed_type not in (
        DistributedType.DEEPSPEED,
    ):
        log.warning(f"DeepSpeed needs GPUs; these processes train as {state.distributed_type.value} instead")
    wants_fsdp = os.environ.get("ACCELERATE_USE_FSDP", "false").lower() == "true"
    if not wants_fsdp or state.distributed_type != DistributedType.MULTI_CPU:
        return
    state.fsdp_plugin = FullyShardedDataParallelPlugin()  # filled from the FSDP_* variables accelerate launch set
    state.distributed_type = DistributedType.FSDP
    PartialState().distributed_type = DistributedType.FSDP
    trainer.is_fsdp_enabled = True


def state_shards() -> int:
    """How many processes share a full fine-tune's weight and optimizer state: all of them under FSDP or ZeRO-3
    (accelerate launch sets these variables), one under DDP or a single process. ZeRO-2 counts as unsharded here:
    it shards only gradients and optimizer state, so the check stays on the safe side."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    fsdp = os.environ.get("ACCELERATE_USE_FSDP", "false").lower() == "true"
    zero3 = os.environ.get("ACCELERATE_DEEPSPEED_ZERO_STAGE") == "3"
    return world if fsdp or zero3 else 1


def device_memory_bytes() -> int:
    """Memory of this process's device: its GPU's, or the machine's RAM on a CPU."""
    import torch

    if torch.cuda.is_available():
        return torch.cuda.get_device_properties(int(os.environ.get("LOCAL_RANK", "0"))).total_memory
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
