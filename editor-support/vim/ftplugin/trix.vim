" Trix: comments are `#`; `gq` formats through `trixc fmt -`.
if exists('b:did_ftplugin')
  finish
endif
let b:did_ftplugin = 1
setlocal commentstring=#\ %s comments=:#
setlocal shiftwidth=2 softtabstop=2 expandtab
setlocal formatprg=trixc\ fmt\ -
let b:undo_ftplugin = 'setlocal commentstring< comments< shiftwidth< softtabstop< expandtab< formatprg<'
