"""The analyse stage: financial sentiment, who the negative news is about, complaint categories,
risk and keywords. Depends only on the core (`yuqing.model`, `yuqing.config`) and jieba.

    analyzer = Analyzer(config.institutions, config.nlp)
    analyzer.analyze_mentions(mentions)          # fills the analysis fields in place
    analyze_jsonl("in.jsonl", "out.jsonl", analyzer)   # the `yuqing analyze` command
"""
from nlp.analyzer import Analysis, AnalysisInput, Analyzer, AnalyzerSettings
from nlp.categories import CATEGORY_LABELS
from nlp.jsonl import analyze_jsonl

__all__ = ["Analysis", "AnalysisInput", "Analyzer", "AnalyzerSettings", "CATEGORY_LABELS", "analyze_jsonl"]
