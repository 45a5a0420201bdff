"""Reinforcement learning with verifiable rewards: multiple-choice problems with checkable answers and the rewards
GRPO trains on (`qilin.stages.grpo` runs the stage)."""
