"""Evaluation: ``scenes`` (GenEval protocol on synthetic scenes), ``recon`` (tokenizer quality), ``nll``.

Import the submodule you need; this package re-exports nothing so each evaluator stays independent.
"""
