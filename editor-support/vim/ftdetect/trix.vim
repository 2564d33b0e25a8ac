" Trix deployment runbooks.
autocmd BufRead,BufNewFile *.trix setfiletype trix
