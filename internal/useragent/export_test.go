package useragent

import "hash/maphash"

func maphashString(p *Parser, s string) uint64 { return maphash.String(p.seed, s) }
