import torch

from tokenshuffle.sampling import SamplingConfig, generate
from tokenshuffle.serve.batch import DecodeBatch, Member

SAMPLING = SamplingConfig(guidance_scale=3.0, temperature=1.0, top_k=20, candidates=2)


def members(pipe, prompts_seeds, *, n=1):
    enc = pipe.text_tokenizer.encode
    return [Member(key=i, texts=[enc(p)] * (n * SAMPLING.candidates), generator=torch.Generator().manual_seed(seed))
            for i, (p, seed) in enumerate(prompts_seeds)]


def run(batch):
    while not batch.done:
        batch.step()
    return batch.finish()


@torch.no_grad()
def test_a_lone_request_gives_what_generate_gives(pipe):
    got = run(DecodeBatch(pipe.lm, members(pipe, [("a red circle", 4)], n=2), grid=(4, 8), sampling=SAMPLING))
    enc = pipe.text_tokenizer.encode("a red circle")
    want = generate(pipe.lm, [enc, enc], grid=(4, 8), sampling=SAMPLING, generator=torch.Generator().manual_seed(4))
    assert torch.equal(got[0], want)


@torch.no_grad()
def test_drop_cuts_rows_out_of_the_cache_and_the_rest_finishes(pipe):
    batch = DecodeBatch(pipe.lm, members(pipe, [("a", 1), ("bb", 2), ("ccc", 3)]), grid=(4, 4), sampling=SAMPLING)
    batch.step()
    batch.drop({1})
    cache = pipe.lm.decoder.layers[0].attention.cache
    assert cache.k.shape[0] == 2 * 4 and pipe.lm.decoder.key_bias.shape[0] == 8  # 2 requests x 2 rows, CFG-doubled
    assert [m.start for m in batch.members] == [0, 2]
    got = run(batch)
    assert set(got) == {0, 2} and all(c.shape == (1, 4, 4) for c in got.values())
    assert pipe.lm.decoder.layers[0].attention.cache is None  # finish frees the cache


@torch.no_grad()
def test_dropping_everyone_ends_the_batch(pipe):
    batch = DecodeBatch(pipe.lm, members(pipe, [("a", 1)]), grid=(4, 4), sampling=SAMPLING)
    batch.drop({0})
    assert batch.done and run(batch) == {}


@torch.no_grad()
def test_a_model_with_window_positions_decodes_as_generate_does(pipe):
    import dataclasses
    import types

    from tokenshuffle.model.lm import TokenShuffleLM

    lm = TokenShuffleLM(dataclasses.replace(pipe.lm.config, window_pos=True)).eval()
    lm.load_state_dict(pipe.lm.state_dict(), strict=False)
    torch.manual_seed(3)
    for p in lm.window_pos.parameters():
        torch.nn.init.normal_(p, std=0.5)
    posed = types.SimpleNamespace(lm=lm, text_tokenizer=pipe.text_tokenizer)
    got = run(DecodeBatch(lm, members(posed, [("a red circle", 4)]), grid=(4, 8), sampling=SAMPLING))
    enc = pipe.text_tokenizer.encode("a red circle")
    want = generate(lm, [enc], grid=(4, 8), sampling=SAMPLING, generator=torch.Generator().manual_seed(4))
    plain = generate(pipe.lm, [enc], grid=(4, 8), sampling=SAMPLING, generator=torch.Generator().manual_seed(4))
    assert torch.equal(got[0], want) and not torch.equal(want, plain)


@torch.no_grad()
def test_a_model_with_prompt_colours_decodes_as_generate_does_and_drop_keeps_each_rows_prompt(pipe):
    import dataclasses
    import types

    from tokenshuffle.model.lm import TokenShuffleLM

    lm = TokenShuffleLM(dataclasses.replace(pipe.lm.config, prompt_colours=3)).eval()
    lm.load_state_dict(pipe.lm.state_dict(), strict=False)
    V, vocab = lm.config.image_vocab_size, lm.config.text_vocab_size
    lm.prompt_colours.set_classes(torch.arange(V) % 4)
    words = torch.full((vocab,), 3)  # the fixture's tokenizer is bytes: "r" names class 0, "b" class 1
    words[ord("r")], words[ord("b")] = 0, 1
    lm.prompt_colours.set_words(words)
    coloured = types.SimpleNamespace(lm=lm, text_tokenizer=pipe.text_tokenizer)
    prompts = [("a red circle", 4), ("a blue star", 5), ("a circle", 6)]
    want = {i: generate(lm, [pipe.text_tokenizer.encode(p)], grid=(4, 8), sampling=SAMPLING,
                        generator=torch.Generator().manual_seed(seed)) for i, (p, seed) in enumerate(prompts)}
    assert not torch.equal(want[0], generate(pipe.lm, [pipe.text_tokenizer.encode("a red circle")], grid=(4, 8),
                                             sampling=SAMPLING, generator=torch.Generator().manual_seed(4)))
    batch = DecodeBatch(lm, members(coloured, prompts), grid=(4, 8), sampling=SAMPLING)
    batch.step()
    batch.drop({0})  # the rows after it move up; their prompts' colour context must move with them
    got = run(batch)
    assert set(got) == {1, 2} and all(torch.equal(got[i], want[i]) for i in (1, 2))
