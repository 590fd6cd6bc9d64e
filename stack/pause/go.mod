module shipline.local/pause

go 1.22
