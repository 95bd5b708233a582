"""``tokenshuffle serve``: the HTTP API and web page on uvicorn (the shipped model by default)."""

from __future__ import annotations

from tokenshuffle.cli.common import add_device_args, device_and_dtype
from tokenshuffle.cli.generate import MODEL_HELP, model_folder


def add_parsers(sub) -> None:
    p = sub.add_parser("serve", help="serve the model over HTTP: batched API, streamed previews, web page")
    p.add_argument("--model", default=None, help=MODEL_HELP)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="TCP port, 1-65535 (default 8000)")
    add_device_args(p)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--max-queue", type=int, default=64, help="requests waiting before 429 (default 64)")
    p.add_argument("--max-batch", type=int, default=64,
                   help="images x candidates decoded together (default 64; the CFG batch is twice this)")
    p.add_argument("--max-n", type=int, default=4, help="most images per request (default 4)")
    p.add_argument("--max-candidates", type=int, default=8, help="most candidates per image (default 8)")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds a request may take, queue included")
    p.add_argument("--preview-rows", type=int, default=2, help="a streamed preview every N window rows")
    p.add_argument("--grace", type=float, default=30.0,
                   help="seconds the running batch may still finish after SIGTERM (default 30)")
    p.set_defaults(func=run_serve)


def run_serve(args) -> int:
    if not 1 <= args.port <= 65535:
        raise ValueError(f"--port must be in [1, 65535], got {args.port}")
    if args.threads is not None and args.threads < 1:
        raise ValueError(f"--threads must be >= 1, got {args.threads}")
    model = model_folder(args.model)

    import torch

    from tokenshuffle.pipeline import TextToImagePipeline
    from tokenshuffle.serve.app import ServeConfig
    from tokenshuffle.serve.schemas import Limits
    from tokenshuffle.serve.server import serve

    # Every flag is checked (ValueError -> exit 2) before the model loads.
    config = ServeConfig(limits=Limits(max_n=args.max_n, max_candidates=args.max_candidates,
                                       max_batch_rows=args.max_batch),
                         max_queue=args.max_queue, timeout_s=args.timeout, preview_rows=args.preview_rows,
                         grace_s=args.grace)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device, dtype = device_and_dtype(args)
    pipe = TextToImagePipeline.from_pretrained(model, device=device, dtype=dtype)
    print(f"tokenshuffle serve: {model.name} on http://{args.host}:{args.port}/ (API docs at /docs)", flush=True)
    return serve(pipe, host=args.host, port=args.port, config=config, model_name=model.name)
