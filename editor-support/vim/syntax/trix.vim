" Vim syntax file for Trix deployment runbooks (*.trix).
" Keywords follow grammar/grammar.hpp; keywords are contextual in Trix, so a
" keyword used as a name is still coloured as a keyword here.
if exists('b:current_syntax')
  finish
endif

syn keyword trixDeclaration runbook param secret role environment approval analysis service action pipeline alert gitops
syn keyword trixInclude import as
syn keyword trixStatement run http prometheus deploy wait until parallel notify approve stage verify rollback undo
syn keyword trixStatement check confirm require trigger baseline read metric expect at with version when of gate
syn keyword trixStrategy canary blue_green rolling weight pause analyze promote
syn keyword trixTrigger push schedule dispatch
syn keyword trixMethod GET HEAD POST PUT PATCH DELETE
syn keyword trixOperator and or not in
syn keyword trixBoolean true false
syn keyword trixType string int float bool duration percent cron
syn keyword trixBuiltin env steps baseline

syn match trixDuration "\<\d\+\(\.\d\+\)\=\(ms\|s\|m\|h\|d\)\>"
syn match trixPercent "\<\d\+\(\.\d\+\)\=%"
syn match trixNumber "\<\d\+\(\.\d\+\)\=\>"
syn match trixDeclName "\(^\(runbook\|param\|secret\|role\|environment\|gate\|approval\|analysis\|service\|action\|pipeline\|alert\|gitops\)\s\+\)\@<=\h\w*"
syn match trixLabel "^\s*\zs\h\w*\ze\s*:\s*\(run\|http\|deploy\|wait\|parallel\|notify\|approve\)\>"
syn match trixAttr "^\s*\zs\h\w*\ze\s*=[^=]"

syn match trixEscape "\\[\"\\nt$]" contained
syn region trixInterp matchgroup=trixInterpDelim start="\${" end="}" contained contains=trixBuiltin,trixNumber,trixDuration,trixOperator,trixBoolean
syn region trixString start=+"+ skip=+\\.+ end=+"+ contains=trixEscape,trixInterp
syn region trixString start=+"""+ end=+"""+ contains=trixEscape,trixInterp
syn match trixComment "#.*$" contains=trixTodo,@Spell
syn keyword trixTodo TODO FIXME XXX contained

hi def link trixDeclaration Keyword
hi def link trixInclude Include
hi def link trixStatement Statement
hi def link trixStrategy Statement
hi def link trixTrigger Constant
hi def link trixMethod Constant
hi def link trixOperator Operator
hi def link trixBoolean Boolean
hi def link trixType Type
hi def link trixBuiltin Identifier
hi def link trixDuration Number
hi def link trixPercent Number
hi def link trixNumber Number
hi def link trixDeclName Function
hi def link trixLabel Label
hi def link trixAttr Identifier
hi def link trixEscape SpecialChar
hi def link trixInterpDelim Delimiter
hi def link trixString String
hi def link trixComment Comment
hi def link trixTodo Todo

let b:current_syntax = 'trix'
