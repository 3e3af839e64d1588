"""The grammar of the Painless subset modelgate runs, and its one LALR parser."""

from __future__ import annotations

import functools

from lark import Lark

# Types are keywords, as Painless' whitelist makes them: a cast "(String) x" and a
# declaration "List x" are then told from "(x)" and "x = y" by the token alone (LALR(1)).
TYPES = (
    "def void String int long double float boolean short byte char Object Number "
    "Integer Long Double Float Boolean Short Byte Character "
    "List ArrayList Map HashMap LinkedHashMap TreeMap Collection StringBuilder Math"
).split()

GRAMMAR = r"""
start: _item* last?
_item: function | statement

function: TYPE NAME "(" [param ("," param)*] ")" block
param: TYPE NAME

block: "{" statement* last? "}"

?statement: block
    | "if" "(" expr ")" statement "else" statement   -> if_else
    | "if" "(" expr ")" statement                    -> if_
    | "while" "(" expr ")" statement                 -> while_
    | "do" statement "while" "(" expr ")" ";"        -> do_while
    | "for" "(" [for_init] ";" [expr] ";" [for_update] ")" statement  -> for_
    | "for" "(" TYPE NAME ":" expr ")" statement     -> for_each
    | "for" "(" NAME "in" expr ")" statement         -> for_in
    | simple ";"
    | ";"                                            -> empty

// Painless lets the last statement of a block or script omit its semicolon.
last: simple

?simple: declaration
    | expr                  -> expr_stmt
    | "return" [expr]       -> return_
    | "break"               -> break_
    | "continue"            -> continue_
    | "throw" "new" NAME "(" [args] ")" -> throw_

for_init: declaration | expr ("," expr)*
for_update: expr ("," expr)*
declaration: TYPE declarator ("," declarator)*
declarator: NAME ["=" expr]

?expr: ternary
    | postfix ASSIGN expr                -> assign

?ternary: elvis
    | elvis "?" expr ":" ternary        -> cond
?elvis: or_
    | or_ "?:" elvis                    -> elvis
?or_: and_
    | or_ "||" and_                     -> or_
?and_: bor
    | and_ "&&" bor                     -> and_
?bor: bxor
    | bor "|" bxor                      -> binop_or
?bxor: band
    | bxor "^" band                     -> binop_xor
?band: eq
    | band "&" eq                       -> binop_and
?eq: rel
    | eq EQ rel                         -> binop
?rel: shift
    | rel REL shift                     -> binop
    | rel "instanceof" TYPE             -> instanceof
?shift: add
    | shift SHIFT add                   -> binop
?add: mul
    | add ADD mul                       -> binop
?mul: unary
    | mul MUL unary                     -> binop
?unary: postfix
    | "!" unary                         -> not_
    | ADD unary                         -> sign
    | "~" unary                         -> bnot
    | INCDEC postfix                    -> pre_incdec
    | "(" TYPE ")" unary                -> cast
?postfix: primary
    | postfix DOT NAME                  -> field
    | postfix DOT NAME "(" [args] ")"   -> call
    | postfix "[" expr "]"              -> index
    | postfix INCDEC                    -> post_incdec
?primary: "(" expr ")"
    | INT                               -> int_lit
    | HEX                               -> hex_lit
    | DECIMAL                           -> decimal_lit
    | STRING                            -> string_lit
    | "true"                            -> true_lit
    | "false"                           -> false_lit
    | "null"                            -> null_lit
    | NAME                              -> var
    | NAME "(" [args] ")"               -> local_call
    | TYPE DOT NAME "(" [args] ")"       -> static_call
    | TYPE DOT NAME                      -> static_field
    | "new" TYPE "(" [args] ")"         -> new_obj
    | "new" TYPE "[" expr "]"           -> new_array
    | "new" TYPE "[" "]" "{" [args] "}" -> new_array_init
    | "[" [args] "]"                    -> list_lit
    | "[" entry ("," entry)* "]"        -> map_lit
    | "[" ":" "]"                       -> empty_map
args: expr ("," expr)*
entry: expr ":" expr

TYPE.2: /(?:@TYPES@)(?![A-Za-z0-9_$])/
NAME: /[A-Za-z_$][A-Za-z0-9_$]*/
DOT: "." | "?."
ASSIGN: ">>>=" | "<<=" | ">>=" | "+=" | "-=" | "*=" | "/=" | "%=" | "&=" | "|=" | "^=" | "="
EQ.3: "===" | "!==" | "==" | "!="
REL: "<=" | ">=" | "<" | ">"
SHIFT: "<<" | ">>>" | ">>"
ADD: "+" | "-"
MUL: "*" | "/" | "%"
INCDEC: "++" | "--"
DECIMAL.3: /[0-9]+\.[0-9]+(?:[eE][+-]?[0-9]+)?[fFdD]?|[0-9]+(?:[eE][+-]?[0-9]+)[fFdD]?|[0-9]+[fFdD]/
HEX.3: /0[xX][0-9a-fA-F]+[lL]?/
INT.2: /[0-9]+[lL]?/
STRING: /"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/s

COMMENT: /\/\/[^\n]*/ | /\/\*(.|\n)*?\*\//
%import common.WS
%ignore WS
%ignore COMMENT
""".replace("@TYPES@", "|".join(TYPES))


@functools.cache
def parser() -> Lark:
    """Return the LALR parser, built on first use (about 0.3 s and 3 MB: not at import)."""
    return Lark(GRAMMAR, parser="lalr", propagate_positions=True, maybe_placeholders=True)
