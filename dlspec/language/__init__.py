"""The language stage: spec text in (grammar.lark, parser), IR with source locations out (ir),
resolved into a Program (resolve: includes, lets, --set overrides)."""
