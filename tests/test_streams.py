"""unlearn_streams: a model with several text streams (FLUX.1's T5 states into txt_in and its pooled vector into
vector_in) is edited stream by stream, each exactly as unlearn alone would, with one report per stream."""

import pytest
import torch
from synthetic import concept_text, random_layout_encode, random_weights

from scapre_core import ScaPreConfig, StreamsReport, parse_concepts, unlearn, unlearn_streams


def _streams():
    t5 = (random_weights([24, 16], 48, seed=1, kinds=("txt_in",)), random_layout_encode(48, "t5", seed=1))
    pooled = (random_weights([24], 20, seed=2, kinds=("vector_in",)), random_layout_encode(20, "pooled", seed=2, alignment="all"))
    # the two streams' keys must differ: rename the pooled weights
    pooled = ({k.replace("block", "pooled"): w for k, w in pooled[0].items()}, pooled[1])
    return {"T5 -> txt_in": t5, "pooled -> vector_in": pooled}


@pytest.mark.parametrize("preset", ["large_scale", "uce"])
def test_each_stream_is_edited_as_unlearn_alone_would(preset):
    streams = _streams()
    concepts = parse_concepts(concept_text(4, anchors=True, preserve=1))
    config = ScaPreConfig.preset(preset)
    done = []
    result = unlearn_streams(streams, concepts, config, progress=lambda d, t: done.append((d, t)))
    assert isinstance(result.report, StreamsReport) and list(result.report.streams) == list(streams)
    for name, (weights, encode) in streams.items():
        alone = unlearn(weights, encode, concepts, config)
        for key in weights:
            assert torch.equal(result.deltas[key], alone.deltas[key])
        assert result.report.streams[name].alignment == alone.report.alignment
    assert set(result.deltas) == {k for weights, _ in streams.values() for k in weights}
    assert done == [(i, 3) for i in (1, 2, 3)]
    text = result.report.to_text()
    assert "[text stream: T5 -> txt_in]" in text and "[text stream: pooled -> vector_in]" in text
    assert "(span)" in text and "(all)" in text


def test_one_stream_reports_as_unlearn_does():
    weights, encode = _streams()["T5 -> txt_in"]
    concepts = parse_concepts("golf ball\n")
    result = unlearn_streams({"only": (weights, encode)}, concepts, ScaPreConfig.preset("uce"))
    alone = unlearn(weights, encode, concepts, ScaPreConfig.preset("uce"))
    untimed = [[line for line in r.to_text().splitlines() if not line.startswith("time:")] for r in (result.report, alone.report)]
    assert untimed[0] == untimed[1]
    assert result.report.seconds.keys() == alone.report.seconds.keys()


def test_streams_must_edit_distinct_keys():
    weights, encode = _streams()["T5 -> txt_in"]
    with pytest.raises(ValueError, match="edits keys another stream edits too"):
        unlearn_streams({"a": (weights, encode), "b": (weights, encode)}, parse_concepts("golf ball\n"),
                        ScaPreConfig.preset("uce"))
