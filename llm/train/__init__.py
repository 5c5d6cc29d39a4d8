"""Training: batches from token ids, AdamW with a warm-up + cosine schedule, the training loop,
checkpoints that resume exactly, evaluation, and the `llm train` / `llm eval` / `llm demo` verbs.

    trainer = llm.train.start(["input.txt"], "runs/x", {"block_size": 64}, TrainConfig())
    result = trainer.run()          # or llm.train.resume("runs/x").run()
"""
from llm.train.char_tokenizer import char_tokenizer
from llm.train.evaluate import evaluate_files, evaluate_tokens
from llm.train.run import resume, start
from llm.train.trainer import TrainConfig, Trainer, TrainingDiverged, TrainResult

__all__ = ["TrainConfig", "TrainResult", "Trainer", "TrainingDiverged", "char_tokenizer",
           "evaluate_files", "evaluate_tokens", "resume", "start"]
